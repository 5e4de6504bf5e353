import {
  type Ack,
  type AgentMessage,
  backoffDelay,
  type Certificate,
  type ControlMessage,
  type Coord,
  type CoordEvent,
  type CoordResult,
  type Csr,
  createControlMessageDecoder,
  type Decoder,
  type Health,
  type ErrorMessage,
  type Hello,
  type Identity,
  type InstanceInfo,
  type Logger,
  type Nack,
  type Observations,
  PROTOCOL_VERSION,
  type RandomSource,
  type Routes,
  type Subscribe,
  type TrustBundle,
} from '@meshlet/shared';
import WebSocket from 'ws';
import { type ClientCertificateSource, clientCertificate } from './client-certificate.js';
import { describeTlsFailure } from './tls-trust.js';
import { warnInsecureStreams } from './stream-security-warnings.js';
import { streamUpgradeHeaders } from './stream-upgrade-headers.js';
import { onUpgradeRefused, type UpgradeRefusal } from './upgrade-refusal.js';
import { UrlRotation } from './url-rotation.js';

/** How applying a table went: ACK it (with the ring checksums), or NACK it with an error and maybe a stable code. */
export type ApplyResult =
  | { ok: true; ringChecksums?: Ack['ringChecksums'] | undefined }
  | { ok: false; error: string; code?: string | undefined };

/** Options of {@link ControlClient}. */
export interface ControlClientOptions {
  /** The control-plane replicas' streams (at least one); see {@link UrlRotation} for the order they are tried in. */
  urls: readonly string[];
  agentId: string;
  joinToken: string | undefined;
  /** The service a client-only agent acts for, named in its hello (its join credential must be for it). */
  service?: string | undefined;
  /** CA certificate(s) trusted for a `wss://` URL instead of the default trust store (see `readCaFile`). */
  ca?: Buffer | undefined;
  /**
   * Called at each (re)connect: the instance may know its bound port only
   * after listening; `streamLocal`: this end's address of the stream, what
   * the control plane sees the agent connect from.
   */
  instance: (streamLocal: string | undefined) => InstanceInfo | undefined;
  heartbeatIntervalMs: number;
  reconnectInitialDelayMs: number;
  reconnectMaxDelayMs: number;
  maxMessageBytes: number;
  log: Logger;
  random: RandomSource;
  clock: () => number;
  /** Version of the table held now, 0 if none. */
  tableVersion: () => number;
  /** Current health report of the local app, if known. */
  health: () => Health | undefined;
  /** The services this agent calls, for the hello (declared, learned, and those of the table held). */
  upstreams: () => string[];
  /** Applies a table (full or delta); says whether to ACK or NACK it. */
  applyRoutes: (routes: Routes) => ApplyResult | Promise<ApplyResult>;
  /** Answers to the agent's `coord` requests and lock changes (the agent's coordination client), if any. */
  coordination?: (message: CoordResult | CoordEvent) => void;
  /** Called when a stream opens (true, after its hello went out) or drops (false): coordination fails fast meanwhile. */
  onConnection?: (connected: boolean) => void;
  /** The workload certificate's side of the stream (the agent's `IdentityManager`), if any. */
  certificates?: {
    onIdentity(message: Identity): Promise<void> | void;
    onCertificate(message: Certificate): Promise<void>;
    /** An `error` about a request (its `field` is `csrPem`). */
    onError(message: ErrorMessage): void;
    onDisconnect(): void;
    /** The table's trust bundle; returns why it cannot be used (the table is NACKed), or undefined. */
    onTrust?(trust: TrustBundle): string | undefined;
    /** The fingerprint of the issuer of the certificate held, for the ACK. */
    certificateIssuer?(): string | undefined;
    /** Calls `listener` after every change of the certificate held; returns a function that unsubscribes. */
    onChange?(listener: () => void): () => void;
    /**
     * The workload certificate held now, if any: presented as the client
     * certificate of a `wss://` stream while valid, so the control plane
     * knows the agent by it (see {@link clientCertificate}).
     */
    current?(): ClientCertificateSource | undefined;
  };
}

/**
 * The agent's side of the stream: hello, heartbeats, health, subscriptions,
 * observations, ACK/NACK.
 * When the stream drops, or fails to open, it moves to the next control-plane
 * URL after an exponential backoff with full jitter; meanwhile the data path
 * keeps serving the table it holds, and the hello on the new stream carries
 * that table's version so the replica can resume from it.
 */
export class ControlClient {
  readonly #o: ControlClientOptions;
  readonly #decode: Decoder<ControlMessage>;
  readonly #rotation: UrlRotation;
  #ws: WebSocket | undefined;
  #attempt = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  #reconnect: NodeJS.Timeout | undefined;
  #seq = 0;
  #stopped = false;
  #connected = false;
  #lastClose: { code: number; reason: string } | undefined;
  /** The last TLS failure logged as an error, so that each reconnect does not repeat it. */
  #tlsFailure: string | undefined;
  /** The last ACK sent on this stream: sent again when the certificate's issuer changed (a root rotation waits for it). */
  #lastAck: Ack | undefined;

  constructor(options: ControlClientOptions) {
    this.#o = options;
    this.#decode = createControlMessageDecoder(options.maxMessageBytes);
    this.#rotation = new UrlRotation(options.urls, options.random);
    options.certificates?.onChange?.(() => this.#ackIssuer());
  }

  /**
   * A new certificate was installed: the control plane learns its issuer
   * from the agent's word, once it is in use (not when it was signed: the
   * agent may refuse or lose it), by the last ACK sent again with it.
   */
  #ackIssuer(): void {
    const last = this.#lastAck;
    const issuer = this.#o.certificates?.certificateIssuer?.();
    if (!this.#connected || last === undefined || issuer === undefined || issuer === last.certificateIssuer) return;
    this.#lastAck = { ...last, certificateIssuer: issuer };
    this.#send(this.#lastAck);
  }

  /** The control-plane URL in use (connected, or being tried next). */
  get url(): string {
    return this.#rotation.current;
  }

  /** Every control-plane URL, in the order they are tried. */
  get urls(): readonly string[] {
    return this.#rotation.urls;
  }

  /** True while a stream to the control plane is open. */
  get connected(): boolean {
    return this.#connected;
  }

  /** Code and reason of the last close, for `/ready` and logs. */
  get lastClose(): { code: number; reason: string } | undefined {
    return this.#lastClose;
  }

  /** Starts connecting. */
  start(): void {
    warnInsecureStreams(
      this.#rotation.urls,
      { certificates: this.#o.certificates !== undefined, ca: this.#o.ca !== undefined },
      this.#o.log,
    );
    this.#connect();
  }

  /** Sends the app's health now (on a change). */
  sendHealth(health: Health): void {
    this.#send(health);
  }

  /**
   * Sends a subscribe or an observations report now; false (and nothing
   * sent) when no stream is open. A subscribe lost that way is not lost: the
   * next hello names every subscribed service.
   */
  send(message: Subscribe | Observations | Csr | Coord): boolean {
    if (this.#ws?.readyState !== WebSocket.OPEN) return false;
    this.#send(message);
    return true;
  }

  /** Closes the stream and stops reconnecting. */
  stop(): void {
    this.#stopped = true;
    if (this.#reconnect) clearTimeout(this.#reconnect);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#ws?.close(1001, 'agent shutting down');
  }

  #send(message: AgentMessage): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(message));
  }

  #connect(): void {
    const o = this.#o;
    const url = this.#rotation.current;
    // `ca` replaces the default trust store for this connection only; without it, Node's applies.
    const presented = clientCertificate(url, o.certificates?.current?.(), o.clock());
    const ws = new WebSocket(url, {
      handshakeTimeout: 5_000,
      maxPayload: o.maxMessageBytes * 4,
      headers: streamUpgradeHeaders(o.joinToken),
      ...(o.ca === undefined ? {} : { ca: o.ca }),
      ...(presented === undefined ? {} : { cert: presented.cert, key: presented.key }),
    });
    this.#ws = ws;
    let openedAt = 0;
    let streamLocal: string | undefined;
    ws.on('upgrade', (res) => {
      streamLocal = res.socket.localAddress;
    });
    ws.on('open', () => {
      openedAt = o.clock();
      this.#connected = true;
      this.#tlsFailure = undefined;
      const instance = o.instance(streamLocal);
      const hello: Hello = {
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        agentId: o.agentId,
        tableVersion: o.tableVersion(),
        upstreams: o.upstreams(),
        ...(o.joinToken === undefined ? {} : { joinToken: o.joinToken }),
        ...(instance === undefined ? {} : { instance }),
        ...(instance === undefined && o.service !== undefined ? { service: o.service } : {}),
      };
      this.#send(hello);
      const health = o.health();
      if (health) this.#send(health);
      o.onConnection?.(true);
      // A WebSocket ping rides along each heartbeat. A control plane whose host
      // vanished without closing the socket answers no pong; after three
      // silent intervals the stream is dropped and the agent reconnects,
      // instead of waiting minutes for TCP to give up.
      let lastPong = o.clock();
      ws.on('pong', () => {
        lastPong = o.clock();
      });
      this.#heartbeat = setInterval(() => {
        if (o.clock() - lastPong > 3 * o.heartbeatIntervalMs) {
          o.log.warn({ silentMs: o.clock() - lastPong }, 'the control plane stopped answering; reconnecting');
          ws.terminate();
          return;
        }
        this.#send({ type: 'heartbeat', seq: this.#seq++ });
        ws.ping();
      }, o.heartbeatIntervalMs);
      o.log.info(
        { url, tableVersion: hello.tableVersion, clientCertificate: presented?.spiffeId ?? null },
        'connected to the control plane',
      );
    });
    ws.on('message', (data: Buffer, isBinary) => this.#onMessage(isBinary ? data : data.toString('utf8')));
    let lastError: string | undefined;
    let refusal: UpgradeRefusal | undefined;
    onUpgradeRefused(ws, (r) => (refusal = r));
    ws.on('error', (err: Error & { code?: string }) => {
      lastError = err.message;
      const tls = describeTlsFailure(err, o.ca !== undefined);
      if (tls === undefined) {
        o.log.debug({ err: err.message }, 'control-plane stream error');
        return;
      }
      lastError = tls;
      if (tls !== this.#tlsFailure) o.log.error({ url, code: err.code }, tls);
      this.#tlsFailure = tls;
    });
    ws.on('close', (code, reasonBuf) => {
      const reason = refusal?.reason ?? reasonBuf.toString();
      const wasOpen = this.#connected;
      this.#connected = false;
      this.#lastAck = undefined;
      this.#lastClose = { code, reason };
      o.certificates?.onDisconnect();
      if (wasOpen) o.onConnection?.(false);
      if (this.#heartbeat) clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
      if (this.#stopped) return;
      // A stream that stayed up a while was healthy: start the backoff over.
      if (openedAt > 0 && o.clock() - openedAt > o.reconnectMaxDelayMs) this.#attempt = 0;
      // A refused upgrade's Retry-After (the control plane's limits before the hello) is a floor, up to a minute.
      const delay = Math.max(
        backoffDelay(this.#attempt++, { initialMs: o.reconnectInitialDelayMs, maxMs: o.reconnectMaxDelayMs }, o.random),
        Math.min(refusal?.retryAfterMs ?? 0, 60_000),
      );
      const held = o.tableVersion();
      o.log.warn(
        { url, code, reason, error: lastError, retryInMs: delay, tableVersion: held },
        held > 0
          ? 'control-plane stream closed; serving from the table held'
          : 'control-plane stream closed; no routing table yet',
      );
      // Every close moves on, whatever its reason: a replica that refused the
      // hello (a join token it does not know, a protocol version it does not
      // speak) may be the odd one out, mid-upgrade or misconfigured, and
      // another may accept. With one URL this is a plain reconnect.
      if (this.#rotation.urls.length > 1) {
        const move = this.#rotation.advance();
        o.log.warn({ from: move.from, to: move.to, retryInMs: delay }, 'moving to the next control-plane URL');
      }
      this.#reconnect = setTimeout(() => this.#connect(), delay);
    });
  }

  #onMessage(frame: string | Buffer): void {
    const o = this.#o;
    const decoded = this.#decode(frame);
    if (!decoded.ok) {
      o.log.warn({ code: decoded.error.code, detail: decoded.error.message }, 'refused a control-plane message');
      // A table that fails its schema is NACKed (the agent keeps its previous one); anything else gets an error.
      const parsed = (() => {
        try {
          return JSON.parse(typeof frame === 'string' ? frame : frame.toString()) as {
            type?: unknown;
            version?: unknown;
            nonce?: unknown;
          };
        } catch {
          return undefined;
        }
      })();
      if (parsed?.type === 'routes') {
        const v = parsed.version;
        const version = typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 2 ** 48 ? v : 0;
        const nonce = typeof parsed.nonce === 'string' ? parsed.nonce.slice(0, 64) : '';
        this.#send({ type: 'nack', version, nonce, error: decoded.error.message.slice(0, 4000) });
      } else {
        this.#send({ ...decoded.error, message: decoded.error.message.slice(0, 4000) });
      }
      return;
    }
    const msg = decoded.message;
    if (msg.type === 'coordResult' || msg.type === 'coordEvent') return o.coordination?.(msg);
    if (msg.type === 'error') {
      if (msg.field === 'csrPem') o.certificates?.onError(msg);
      else o.log.warn({ code: msg.code, detail: msg.message }, 'the control plane reported an error');
      return;
    }
    if (msg.type === 'identity') {
      void Promise.resolve(o.certificates?.onIdentity(msg)).catch((e: unknown) => {
        o.log.error({ err: (e as Error).message }, 'could not act on the identity message');
      });
      return;
    }
    if (msg.type === 'certificate') {
      // A rejection here (a bug, a listener's throw) must not become an unhandled rejection that ends the agent.
      o.certificates?.onCertificate(msg).catch((e: unknown) => {
        o.log.error({ err: (e as Error).message }, 'could not install the certificate; the agent asks again later');
      });
      return;
    }
    const trustProblem = msg.trust === undefined ? undefined : o.certificates?.onTrust?.(msg.trust);
    const result = trustProblem === undefined ? o.applyRoutes(msg) : { ok: false as const, error: trustProblem };
    // A large table is built in slices (see TableApplier): its answer comes when it is installed or refused.
    if (result instanceof Promise) void result.then((r) => this.#answer(msg, r));
    else this.#answer(msg, result);
  }

  /** ACKs or NACKs table `msg` as applying it went. */
  #answer(msg: Routes, result: ApplyResult): void {
    const o = this.#o;
    if (result.ok) {
      const ack: Ack = { type: 'ack', version: msg.version, nonce: msg.nonce };
      if (result.ringChecksums !== undefined) ack.ringChecksums = result.ringChecksums;
      const issuer = o.certificates?.certificateIssuer?.();
      if (issuer !== undefined) ack.certificateIssuer = issuer;
      this.#lastAck = ack;
      this.#send(ack);
      return;
    }
    const nack: Nack = { type: 'nack', version: msg.version, nonce: msg.nonce, error: result.error.slice(0, 4000) };
    // An ACK sent again later (a new certificate's issuer) must not answer a table refused since.
    this.#lastAck = undefined;
    if (result.code !== undefined) nack.code = result.code;
    o.log.warn(
      { version: msg.version, baseVersion: msg.baseVersion, code: result.code, err: nack.error },
      'refused a routing table; keeping the table held',
    );
    this.#send(nack);
  }
}
