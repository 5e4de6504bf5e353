import type { Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Clock, Logger, MtlsPolicy } from '@meshlet/shared';
import type { PeerIdentityVerifier } from '@meshlet/shared/identity';
import { AuthzLogLimiter } from '../authz/authz-log-limiter.js';
import { workloadTlsOptions, workloadVerifier } from '../identity/identity-tls.js';
import type { WorkloadCertificate, WorkloadIdentity } from '../identity/workload-identity.js';
import type { AgentMetrics } from '../metrics.js';
import { sniffTcpMagic } from '../tcp/sniff-tcp-magic.js';
import { TCP_ALPN, TCP_MAGIC } from '../tcp/tcp-preamble.js';

/** The mTLS mode of the agent's own service. */
export type MtlsMode = MtlsPolicy['mode'];

/** The first byte of every TLS connection: a handshake record. */
const TLS_HANDSHAKE = 0x16;

/** The longest delay `setTimeout` takes (about 24.8 days); a later expiry is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Options of {@link InboundMtls}. */
export interface InboundMtlsOptions {
  identity: WorkloadIdentity;
  /** The mode in force: the agent's own service's `mtls.mode` in its routing table (strict when absent). */
  mode: () => MtlsMode;
  log: Logger;
  clock: Clock;
  /** A caller has this long for its first byte, and then for the TLS handshake. */
  handshakeTimeoutMs: number;
  metrics?: Pick<AgentMetrics, 'mtlsHandshakes' | 'inboundConnections' | 'mtlsRefusals'> | undefined;
  /**
   * TCP services (see `TcpInbound`): takes connections that chose ALPN `meshlet-tcp/1` once their caller is
   * verified (its SPIFFE ID given), and plaintext ones that open with `MESHLET-TCP/1` (undefined caller).
   * Absent: neither is offered.
   */
  tcp?: ((socket: Socket, caller: string | undefined) => void) | undefined;
}

/**
 * The TLS side of the inbound listener. Callers reach one port; the first
 * byte tells a TLS handshake (0x16) from a plaintext request, as Istio's
 * permissive mode does. A TLS caller must present a certificate chained to
 * the trust bundle (node:tls checks the chain in the handshake), and then
 * the peer verifier reads its SPIFFE ID from the chain the handshake
 * carried, checking trust domain and validity on its own; only a connection
 * that passes both reaches HTTP, with its caller known for the connection's
 * life. Plaintext connections go to HTTP as they are: whether a plaintext
 * request is refused (strict) or relayed without a caller (permissive) is
 * decided per request, so a policy change applies at once.
 *
 * Rotation: every change of the identity (a renewed leaf, a new bundle)
 * replaces the TLS server's secure context and the verifier; connections
 * already open keep theirs, new ones get the new certificate.
 */
export class InboundMtls {
  readonly #o: InboundMtlsOptions;
  readonly #handOff: (socket: Socket | TLSSocket) => void;
  readonly #callers = new WeakMap<object, string>();
  /** When each mTLS caller's certificate expires (ms since the epoch), by socket. */
  readonly #notAfter = new WeakMap<object, number>();
  readonly #unsubscribe: () => void;
  /** One warning per reason per 10 s, with the count held back: a flood of refused callers cannot flood the log. */
  readonly #logLimiter: AuthzLogLimiter;
  #tls: TlsServer | undefined;
  #verifier: PeerIdentityVerifier | undefined;

  /** `handOff` gives a connection to the HTTP server (its own `connection` listener). */
  constructor(options: InboundMtlsOptions, handOff: (socket: Socket | TLSSocket) => void) {
    this.#o = options;
    this.#handOff = handOff;
    this.#logLimiter = new AuthzLogLimiter(options.clock);
    const current = options.identity.current();
    if (current) this.#use(current);
    this.#unsubscribe = options.identity.onChange((certificate) => this.#use(certificate));
  }

  /** The caller's SPIFFE ID on a connection that came over mTLS; undefined for plaintext. */
  callerOf(socket: object): string | undefined {
    return this.#callers.get(socket);
  }

  /** Takes a connection the listener accepted and sends it down the TLS or the plaintext path. */
  accept(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    const silent = (): void => {
      socket.destroy();
    };
    socket.setTimeout(this.#o.handshakeTimeoutMs);
    socket.once('timeout', silent);
    // A caller that half-closes before its first byte will send nothing: closed now, not at the timeout.
    socket.once('end', silent);
    const sniff = (): void => {
      const first = socket.read(1) as Buffer | null;
      if (first === null) {
        socket.once('readable', sniff);
        return;
      }
      socket.unshift(first);
      // From here on the TLS handshake timeout, then HTTP's own, apply.
      socket.setTimeout(0);
      socket.off('timeout', silent);
      socket.off('end', silent);
      if (first[0] === TLS_HANDSHAKE) this.#acceptTls(socket);
      else {
        this.#o.metrics?.inboundConnections.labels('plaintext', this.#o.mode()).inc();
        const tcp = this.#o.tcp;
        if (tcp === undefined || first[0] !== TCP_MAGIC[0]) this.#handOff(socket);
        else
          sniffTcpMagic(socket, this.#o.handshakeTimeoutMs, (isTcp) =>
            isTcp ? tcp(socket, undefined) : this.#handOff(socket),
          );
      }
    };
    sniff();
  }

  /** The mode in force for the agent's own service. */
  mode(): MtlsMode {
    return this.#o.mode();
  }

  /**
   * Whether a request on `socket` may reach the app: one over mTLS while the
   * caller's certificate is valid (a connection outliving it is closed), a
   * plaintext one in permissive mode only; a refusal is counted and logged.
   */
  admits(socket: Socket): boolean {
    const notAfter = this.#notAfter.get(socket);
    if (notAfter !== undefined && notAfter <= this.#o.clock()) {
      // A keep-alive connection outlived the caller's certificate: it proves nothing any more.
      this.#callerExpired(socket, notAfter);
      return false;
    }
    if (this.#callers.has(socket) || this.#o.mode() === 'permissive') return true;
    this.#refuse('plaintext', 'a plaintext request reached a service in strict mTLS mode', socket.remoteAddress);
    return false;
  }

  /** Stops following the identity. */
  close(): void {
    this.#unsubscribe();
  }

  #acceptTls(socket: Socket): void {
    if (this.#tls === undefined) {
      // No certificate yet (the first one is on its way): nothing to prove who this agent is.
      this.#refuse('no-certificate', 'a TLS caller arrived before this agent has a workload certificate');
      socket.destroy();
      return;
    }
    // The HTTP server accepts half-open sockets (it ends them itself); under TLS, the TLS socket does, and the raw
    // one must follow it closed, or a caller that resets the connection leaves it open and the listener never closes.
    socket.allowHalfOpen = false;
    this.#tls.emit('connection', socket);
  }

  #use(certificate: WorkloadCertificate): void {
    const options = workloadTlsOptions(certificate);
    this.#verifier = workloadVerifier(certificate, this.#o.clock);
    if (this.#tls) {
      this.#tls.setSecureContext(options);
      this.#o.log.info(
        { spiffeId: certificate.spiffeId, notAfter: new Date(certificate.notAfterMs).toISOString() },
        'inbound listener serves a new workload certificate',
      );
      return;
    }
    this.#tls = createTlsServer({
      ...options,
      requestCert: true,
      rejectUnauthorized: true,
      // HTTP/2 between agents (many streams on one connection), HTTP/1.1 for callers that offer only it.
      // And TCP services' connections, when the agent serves them.
      ALPNProtocols: this.#o.tcp ? ['h2', 'http/1.1', TCP_ALPN] : ['h2', 'http/1.1'],
      handshakeTimeout: this.#o.handshakeTimeoutMs,
    });
    this.#tls.on('secureConnection', (tlsSocket: TLSSocket) => this.#verify(tlsSocket));
    this.#tls.on('tlsClientError', (err: Error & { code?: string }, tlsSocket: TLSSocket) => {
      this.#o.metrics?.mtlsHandshakes.labels('inbound', 'failed').inc();
      // With requestCert and rejectUnauthorized, Node (20) reports a refused client certificate as ECONNRESET
      // "socket hang up": OpenSSL's verdict is the socket's authorizationError, so that is read first.
      const verdict = authorizationCode(tlsSocket.authorizationError);
      const reason = handshakeRefusal(err, verdict);
      if (reason !== undefined) this.#o.metrics?.mtlsRefusals.labels(reason).inc();
      const admitted = this.#logLimiter.admit(`handshake ${reason ?? verdict ?? err.code ?? 'other'}`);
      if (admitted.log)
        this.#o.log.warn(
          {
            err: err.message,
            code: err.code,
            verdict,
            reason,
            remote: tlsSocket.remoteAddress,
            suppressed: admitted.suppressed,
          },
          'inbound mTLS handshake failed',
        );
    });
  }

  #verify(tlsSocket: TLSSocket): void {
    tlsSocket.on('error', () => tlsSocket.destroy());
    const verifier = this.#verifier as PeerIdentityVerifier;
    verifier.verify(tlsSocket.getPeerCertificate(true)).then(
      (peer) => {
        if (!peer.ok) {
          this.#o.metrics?.mtlsHandshakes.labels('inbound', 'refused').inc();
          this.#refuse(peer.reason, peer.message, tlsSocket.remoteAddress);
          tlsSocket.destroy();
          return;
        }
        this.#o.metrics?.mtlsHandshakes.labels('inbound', 'ok').inc();
        if (tlsSocket.destroyed || !tlsSocket.readable) return; // the caller left while it was checked
        this.#o.metrics?.inboundConnections.labels('mtls', this.#o.mode()).inc();
        this.#callers.set(tlsSocket, peer.uri);
        this.#expireAt(tlsSocket, peer.notAfter.getTime());
        if (tlsSocket.alpnProtocol === TCP_ALPN && this.#o.tcp) this.#o.tcp(tlsSocket, peer.uri);
        else this.#handOff(tlsSocket);
      },
      () => tlsSocket.destroy(),
    );
  }

  /**
   * Closes the connection when the caller's certificate expires: it was
   * checked once, in the handshake, and a busy keep-alive connection would
   * otherwise be served for ever.
   */
  #expireAt(socket: TLSSocket, notAfter: number): void {
    this.#notAfter.set(socket, notAfter);
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      const left = notAfter - this.#o.clock();
      if (left <= 0) {
        this.#callerExpired(socket, notAfter);
        return;
      }
      timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      timer.unref();
    };
    arm();
    socket.once('close', () => clearTimeout(timer));
  }

  #callerExpired(socket: Socket, notAfter: number): void {
    if (socket.destroyed) return;
    this.#refuse(
      'expired',
      `the caller's certificate expired at ${new Date(notAfter).toISOString()}; its connection is closed`,
      socket.remoteAddress,
    );
    socket.destroy();
  }

  #refuse(reason: string, message: string, remote?: string): void {
    this.#o.metrics?.mtlsRefusals.labels(reason).inc();
    const admitted = this.#logLimiter.admit(`refused ${reason}`);
    if (admitted.log)
      this.#o.log.warn({ reason, remote, suppressed: admitted.suppressed }, `inbound caller refused: ${message}`);
  }
}

/** OpenSSL's verify error code as node:tls keeps it (a string, typed as an Error), if any. */
function authorizationCode(error: unknown): string | undefined {
  if (error === undefined || error === null) return undefined;
  if (typeof error === 'string') return error;
  const e = error as { code?: string; message?: string };
  return e.code ?? e.message;
}

/** OpenSSL's verify errors, by the peer verifier's reason. */
const VERIFY_REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not-yet-valid',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'untrusted',
  UNABLE_TO_GET_ISSUER_CERT: 'untrusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'untrusted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'untrusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'untrusted',
  CERT_SIGNATURE_FAILURE: 'untrusted',
  CERT_UNTRUSTED: 'untrusted',
};

/**
 * Why TLS itself refused a caller's certificate during the handshake, in the
 * peer verifier's words (`expired`, `not-yet-valid`, `no-certificate`,
 * `untrusted`): from OpenSSL's verify error, the TLS socket's
 * `authorizationError`, when there is one (on Node 20 the error itself is
 * only ECONNRESET "socket hang up"), else from the error's code and message; undefined for a handshake that failed for another reason (a
 * protocol error, a caller that left).
 */
export function handshakeRefusal(err: Error & { code?: string }, authorizationError?: string): string | undefined {
  const verdict = authorizationError === undefined ? undefined : VERIFY_REASONS[authorizationError];
  if (verdict !== undefined) return verdict;
  const text = `${authorizationError ?? ''} ${err.code ?? ''} ${err.message}`.toUpperCase();
  if (text.includes('EXPIRED')) return 'expired';
  if (text.includes('NOT_YET_VALID') || text.includes('NOT YET VALID')) return 'not-yet-valid';
  if (text.includes('DID_NOT_RETURN_A_CERTIFICATE') || text.includes('CERTIFICATE REQUIRED')) return 'no-certificate';
  if (/UNKNOWN_CA|UNABLE_TO_GET_ISSUER|SELF_SIGNED|CERTIFICATE_VERIFY_FAILED|UNABLE TO GET|UNKNOWN CA/.test(text))
    return 'untrusted';
  return undefined;
}
