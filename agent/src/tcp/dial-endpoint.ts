import { connect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Endpoint } from '@meshlet/shared';
import { AgentErrorCodes } from '../errors.js';
import type { MtlsConnector } from '../listener/mtls-connector.js';
import { readLine } from './read-line.js';
import { MAX_PREAMBLE_BYTES, parseAnswer, TCP_ALPN, TCP_MAGIC } from './tcp-preamble.js';

/** A TCP connection to a callee's agent that answered `OK`, or why there is none. */
export type DialResult =
  | { ok: true; socket: Socket; tail: Buffer }
  /** `blame`: the endpoint's fault (a connect failure, a failed handshake, a timeout, `ERR MESHLET_APP_UNREACHABLE`: retried elsewhere, counted by outlier detection); a refusal of the caller ({@link CALLER_REFUSALS}) is not. */
  | { ok: false; code: string; message: string; blame: boolean };

/**
 * The callee's refusals that say no about the caller, not about the
 * endpoint: they blame no endpoint (no outlier detection, no failure
 * reported to the control plane) and are not retried, since every instance
 * of the service applies the same policy. Every other `ERR` (the app
 * unreachable, an unknown answer) blames the endpoint.
 */
export const CALLER_REFUSALS: ReadonlySet<string> = new Set([
  AgentErrorCodes.AUTHZ_DENIED,
  AgentErrorCodes.AUTHZ_POLICY_UNKNOWN,
  AgentErrorCodes.MTLS_REQUIRED,
  AgentErrorCodes.TCP_WRONG_SERVICE,
  AgentErrorCodes.TCP_PREAMBLE_INVALID,
  AgentErrorCodes.PRIMARY_FENCED,
]);

/** How {@link dialEndpoint} reaches an endpoint. */
export interface DialOptions {
  service: string;
  /** The preamble line to send (see `encodePreamble`). */
  preamble: Buffer;
  /** For the TCP connection and TLS handshake, and again for the callee's answer (its own connection to its app). */
  connectMs: number;
  /** The agent's mTLS connector; endpoints whose agent serves mTLS (`endpoint.mtls`) are called through it. */
  connector?: MtlsConnector | undefined;
}

/**
 * Opens a TCP connection to `endpoint`'s agent for `service`: mutual TLS
 * with ALPN `meshlet-tcp/1` when the endpoint serves mTLS (the callee's
 * certificate must name the service), else plaintext opened with the magic
 * line `MESHLET-TCP/1`; then the preamble, and the callee's one-line answer.
 * Nothing of the client's is sent before `OK`, so every failure here is a
 * connect failure the caller may retry on another endpoint.
 */
export async function dialEndpoint(endpoint: Endpoint, o: DialOptions): Promise<DialResult> {
  const at = `${endpoint.host}:${endpoint.port}`;
  const tls = endpoint.mtls === true && o.connector !== undefined;
  let socket: Socket;
  if (tls) {
    const s = (o.connector as MtlsConnector).connect(o.service, endpoint.host, endpoint.port, [TCP_ALPN]);
    if (s instanceof Error) return { ok: false, code: s.code, message: s.message, blame: false };
    socket = s;
  } else socket = connect({ host: endpoint.host, port: endpoint.port, noDelay: true });
  socket.on('error', () => undefined);
  const connected = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(`connect timeout after ${o.connectMs} ms`), o.connectMs);
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    socket.once('error', (e: Error & { code?: string }) => {
      clearTimeout(timer);
      resolve(`${e.code ?? 'error'}: ${e.message}`);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('the connection closed');
    });
  });
  const fail = (message: string, code: string = AgentErrorCodes.UPSTREAM_UNREACHABLE, blame = true): DialResult => {
    socket.destroy();
    return { ok: false, code, message: `${at}: ${message}`, blame };
  };
  if (connected !== undefined) return fail(connected);
  if (tls && (socket as TLSSocket).alpnProtocol !== TCP_ALPN)
    return fail('the callee does not speak meshlet-tcp/1 (an agent older than TCP services?)');
  if (!tls) socket.write(TCP_MAGIC);
  socket.write(o.preamble);
  const answer = await readLine(socket, MAX_PREAMBLE_BYTES, o.connectMs);
  if (answer.kind !== 'line') return fail(`no answer from the callee's agent (${answer.kind})`);
  const parsed = parseAnswer(answer.line);
  // A refusal of the caller (its identity, the policy, its preamble, the fence) is the callee working as it should:
  // no failure of the endpoint, as an HTTP 403 is none. Otherwise any caller the policy denies could get every
  // instance ejected and reported failing (the control plane's callers' quorum), taking the service offline.
  if (!parsed.ok)
    return fail(
      `refused: ${parsed.message}`,
      parsed.code,
      !(answer.line.startsWith('ERR ') && CALLER_REFUSALS.has(parsed.code)),
    );
  return { ok: true, socket, tail: answer.rest };
}
