import { connect, type Socket } from 'node:net';
import { type AppProtocol, type Logger, TCP_IDLE_TIMEOUT_MS, type TcpPolicy } from '@meshlet/shared';
import type { InboundAuthzContext } from '../authz/authorize-inbound.js';
import { AuthzLogLimiter } from '../authz/authz-log-limiter.js';
import { AgentErrorCodes } from '../errors.js';
import { OPEN_FENCE, type PrimaryFence } from '../failover/primary-fence.js';
import type { MtlsMode } from '../listener/inbound-mtls.js';
import { readLine } from './read-line.js';
import { authorizeTcp } from './tcp-authz.js';
import { encodeRefusal, MAX_PREAMBLE_BYTES, parsePreamble, TCP_MAGIC, TCP_OK } from './tcp-preamble.js';
import { TcpRelay } from './tcp-relay.js';
import { openTcpConnection, reportTcpConnection, type TcpReporting } from './tcp-report.js';

/** A caller has this long for its preamble line (and, in plaintext, the magic line before it): Envoy's listener filters allow 15 s, a database client's agent sends it at once. */
export const TCP_PREAMBLE_TIMEOUT_MS = 5000;

/** A refused caller that does not close after reading its `ERR` line is closed after this long. */
const REFUSAL_LINGER_MS = 1000;

/** Options of {@link TcpInbound}. */
export interface TcpInboundOptions extends TcpReporting {
  /** The service this agent fronts. */
  service: string;
  /** Its app. */
  app: { host: string; port: number };
  connectTimeoutMs: number;
  /** Default {@link TCP_PREAMBLE_TIMEOUT_MS}. */
  preambleTimeoutMs?: number | undefined;
  /** The service's policy entries the callee reads per connection, from its routing table. */
  protocol: () => AppProtocol | undefined;
  tcp: () => TcpPolicy | undefined;
  /** The service's mTLS mode in force (strict: plaintext callers are refused). */
  mode: () => MtlsMode;
  authz: InboundAuthzContext;
  /** The callee side of fencing; default {@link OPEN_FENCE}. */
  fence?: PrimaryFence | undefined;
  log: Logger;
  /** Milliseconds, for durations. */
  clock: () => number;
}

/**
 * The callee side of a TCP service: a connection the inbound listener
 * took (mTLS with ALPN `meshlet-tcp/1`, the caller verified; or plaintext
 * opening with `MESHLET-TCP/1`) is admitted only after its preamble (one
 * line, at most 1 KiB, within the deadline) names this agent's own
 * `protocol: tcp` service, the service's authorization policy admits the
 * caller, the fence admits the role and term it asks for, and the app
 * accepted a connection; only then is `OK` sent, so that every refusal is a
 * connect failure the caller retries elsewhere. Connections admitted as
 * primary, or with no role, close the moment the fence says so.
 */
export class TcpInbound {
  readonly #o: TcpInboundOptions;
  readonly #relays = new Set<TcpRelay>();
  readonly #primaries = new Set<TcpRelay>();
  /** Connections the fence follows whose app connection is still opening. */
  readonly #pending = new Set<Pending>();
  readonly #unfence: () => void;
  readonly #refusals: AuthzLogLimiter;

  constructor(options: TcpInboundOptions) {
    this.#o = options;
    this.#refusals = new AuthzLogLimiter(options.clock);
    this.#unfence = (options.fence ?? OPEN_FENCE).onFence(() => {
      for (const relay of [...this.#primaries]) relay.close('fenced');
      for (const p of this.#pending) p.fenced = true;
    });
  }

  /** Takes a connection: `caller` is its verified SPIFFE ID over mTLS, undefined for plaintext (magic line first). */
  async accept(socket: Socket, caller: string | undefined): Promise<void> {
    const o = this.#o;
    socket.on('error', () => socket.destroy());
    const base = { direction: 'inbound' as const, service: o.service, caller, client: socket.remoteAddress };
    const refuse = (result: string, code: string, message: string): void => {
      socket.end(encodeRefusal(code, message));
      setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
      // Counted every time; logged once per kind of refusal per 10 s (with the count held back), so that a flood of
      // refused connections cannot flood the log.
      const admitted = this.#refusals.admit(result);
      reportTcpConnection(
        { metrics: o.metrics, accessLog: admitted.log ? o.accessLog : undefined },
        { ...base, result, code, message, ...(admitted.suppressed > 0 ? { suppressed: admitted.suppressed } : {}) },
      );
    };
    const timeoutMs = o.preambleTimeoutMs ?? TCP_PREAMBLE_TIMEOUT_MS;
    if (caller === undefined) {
      const magic = await readLine(socket, TCP_MAGIC.length, timeoutMs);
      if (magic.kind !== 'line')
        return refuse('preamble', AgentErrorCodes.TCP_PREAMBLE_INVALID, `no magic line (${magic.kind})`);
      if (magic.rest.length > 0) socket.unshift(magic.rest);
      if (o.mode() === 'strict')
        return refuse(
          'mtls_required',
          AgentErrorCodes.MTLS_REQUIRED,
          `${o.service} accepts mutual TLS only (mtls.mode: strict): connect through a meshlet agent that holds a workload certificate`,
        );
    }
    const line = await readLine(socket, MAX_PREAMBLE_BYTES, timeoutMs);
    if (line.kind !== 'line') {
      const why =
        line.kind === 'too-long'
          ? `longer than ${MAX_PREAMBLE_BYTES} bytes`
          : line.kind === 'timeout'
            ? `not complete within ${timeoutMs} ms`
            : 'cut short';
      return refuse('preamble', AgentErrorCodes.TCP_PREAMBLE_INVALID, `the preamble was ${why}`);
    }
    const parsed = parsePreamble(line.line);
    if (!parsed.ok) return refuse('preamble', AgentErrorCodes.TCP_PREAMBLE_INVALID, parsed.problem);
    const p = parsed.preamble;
    const asked = { ...(p.role ? { role: p.role } : {}), ...(p.term !== undefined ? { term: p.term } : {}) };
    if (p.service !== o.service)
      return refuse(
        'wrong_service',
        AgentErrorCodes.TCP_WRONG_SERVICE,
        `this agent fronts ${o.service}, not ${p.service}`,
      );
    if (o.protocol() !== 'tcp')
      return refuse(
        'wrong_service',
        AgentErrorCodes.TCP_WRONG_SERVICE,
        `${o.service} is not a protocol: tcp service in this agent's routing table`,
      );
    const authz = authorizeTcp(o.authz, caller);
    if (!authz.ok) return refuse('authz_denied', authz.code, authz.message);
    const fence = (o.fence ?? OPEN_FENCE).admit(p);
    if (!fence.ok) return refuse('fenced', fence.code, fence.message);
    // A fence event while the app connection opens must not be missed: the connection is followed from here on,
    // and admitted again once the app answered, before OK.
    const pending: Pending = { fenced: false };
    const followed = this.#follows(p.role);
    if (followed) this.#pending.add(pending);
    const app = await connectApp(o.app, o.connectTimeoutMs);
    this.#pending.delete(pending);
    if (typeof app === 'string')
      return refuse('app_unreachable', AgentErrorCodes.APP_UNREACHABLE, `cannot connect to the local app: ${app}`);
    if (socket.destroyed) {
      app.destroy();
      socket.destroy();
      return;
    }
    const again = pending.fenced
      ? {
          ok: false as const,
          code: AgentErrorCodes.PRIMARY_FENCED,
          message: `${o.service} was fenced while the connection was being opened`,
        }
      : (o.fence ?? OPEN_FENCE).admit(p);
    if (!again.ok) {
      app.destroy();
      return refuse('fenced', again.code, again.message);
    }
    socket.write(TCP_OK);
    const relay = new TcpRelay(socket, app, o.tcp()?.idleTimeoutMs ?? TCP_IDLE_TIMEOUT_MS, line.rest);
    this.#relays.add(relay);
    if (followed) this.#primaries.add(relay);
    const closed = openTcpConnection(o, 'inbound', o.service);
    const opened = o.clock();
    const result = await relay.done;
    this.#relays.delete(relay);
    this.#primaries.delete(relay);
    closed();
    reportTcpConnection(o, { ...base, ...asked, result: 'ok', relay: result, durationMs: o.clock() - opened });
  }

  /** Closes every relayed connection and stops following the fence (the agent stops). */
  close(): void {
    this.#unfence();
    for (const relay of [...this.#relays]) relay.close('shutdown');
  }

  /**
   * Whether the fence closes connections asking for `role`: the ones
   * admitted as primary, and those that asked for no role (a writer may be
   * behind one: when this instance stops being the primary they must not
   * keep reaching it); never `role: replica` ones.
   */
  #follows(role: string | undefined): boolean {
    return role !== 'replica';
  }
}

/** A connection between its admission and its `OK`: whether the fence closed meanwhile. */
interface Pending {
  fenced: boolean;
}

/** A connection to the app, or why there is none. */
function connectApp(app: { host: string; port: number }, timeoutMs: number): Promise<Socket | string> {
  return new Promise((resolve) => {
    const s = connect({ host: app.host, port: app.port, noDelay: true });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(`connect timeout after ${timeoutMs} ms`);
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e: Error & { code?: string }) => {
      clearTimeout(timer);
      s.destroy();
      resolve(`${e.code ?? 'error'}: ${e.message}`);
    });
  });
}
