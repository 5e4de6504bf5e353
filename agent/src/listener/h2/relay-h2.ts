import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { responseHeadersH2 } from './h2-headers.js';
import type { ReplayableBody } from './replayable-body.js';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = constants;
/** The longest delay `setTimeout` takes; a longer (or infinite) wait has no timer. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The END_STREAM flag of a HEADERS frame (RFC 9113 §6.2): the answer is its headers alone. */
const END_STREAM = 0x1;

/** How one HTTP/2 attempt ended. */
export type H2Outcome =
  /** The answer went to the client (all of it, or as much as the client took). */
  | { kind: 'relayed'; status: number; grpcStatus: number | undefined }
  /** An answer `accept` refused: nothing of it reached the client, which may get another attempt's. */
  | { kind: 'declined'; status: number; grpcStatus: number | undefined; headers: IncomingHttpHeaders }
  /** No answer, or one cut off (`headersSent`); `error.code` tells how (see `failureKind`). */
  | { kind: 'failed'; error: Error & { code?: string }; headersSent: boolean };

/** Options of {@link relayH2}. */
export interface RelayH2Options {
  /** Time to the answer's headers; 0: none. */
  headersTimeoutMs: number;
  /** Called with the answer's status and gRPC status (when its headers carry one); false declines it. */
  accept?:
    | ((status: number, grpcStatus: number | undefined, trailersOnly: boolean, headers: IncomingHttpHeaders) => boolean)
    | undefined;
  /** Called when the answer's headers arrive. */
  onHeaders?: (() => void) | undefined;
  /** Called with each header block of the answer before it is sent on (the agent's own headers go in). */
  decorate?: ((headers: OutgoingHttpHeaders) => void) | undefined;
  /**
   * Where the answer's trailers go: the compatibility API's response sends
   * its own trailers when the stream wants them (`addTrailers`), so they
   * are handed to it rather than sent a second time.
   */
  trailers: (trailers: OutgoingHttpHeaders) => void;
  /** Aborting it gives the attempt up (the call's deadline passed): the stream is cancelled, the outcome failed with code `ERR_GRPC_DEADLINE`. */
  signal?: AbortSignal | undefined;
}

/** The code of an attempt given up because its call's `grpc-timeout` passed: the client's deadline, not the endpoint's fault. */
export const CALL_DEADLINE_CODE = 'ERR_GRPC_DEADLINE';

/** A failure with the code `failureKind` reads. */
function failure(message: string, code: string, cause?: unknown): Error & { code: string } {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

/** The `grpc-status` of a header block, if it has one. */
export function grpcStatusOf(headers: IncomingHttpHeaders): number | undefined {
  const v = headers['grpc-status'];
  if (typeof v !== 'string') return undefined;
  const n = Number(v);
  return Number.isInteger(n) ? n : undefined;
}

/**
 * One attempt of an HTTP/2 request: opens a stream on `session` with
 * `headers`, sends `body` on it, and relays the answer to `downstream` as it
 * comes: headers, data with flow control (the upstream stream is paused
 * while the client cannot take more), and trailers (`grpc-status`). The
 * client cancelling (RST_STREAM, or leaving) cancels the upstream stream;
 * the upstream stream reset after the answer began resets the client's with
 * the same code. An answer of headers alone (trailers-only, as gRPC answers
 * an error) or any answer `accept` refuses is declined unsent.
 */
export function relayH2(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body: ReplayableBody,
  downstream: ServerHttp2Stream,
  options: RelayH2Options,
): Promise<H2Outcome> {
  return new Promise((resolve) => {
    // The client left (or the deadline passed) while the request waited for its attempt: nothing is sent.
    if (downstream.closed || downstream.destroyed) {
      resolve({
        kind: 'failed',
        error: failure('the client left', 'UND_ERR_ABORTED'),
        headersSent: downstream.headersSent,
      });
      return;
    }
    if (options.signal?.aborted) {
      resolve({
        kind: 'failed',
        error: failure("the call's grpc-timeout passed", CALL_DEADLINE_CODE),
        headersSent: false,
      });
      return;
    }
    let up: ClientHttp2Stream;
    try {
      up = session.request(headers, { endStream: body.empty });
    } catch (e) {
      // Nothing was sent (a session going away between its GOAWAY and its close): as a refused connection.
      resolve({
        kind: 'failed',
        error: failure(`cannot open a stream: ${(e as Error).message}`, 'ECONNREFUSED', e),
        headersSent: false,
      });
      return;
    }
    let settled = false;
    let status = 0;
    let grpcStatus: number | undefined;
    let answered = false;
    let piped = false;
    const finish = (outcome: H2Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      downstream.off('close', clientGone);
      options.signal?.removeEventListener('abort', deadline);
      body.detach();
      resolve(outcome);
    };
    const deadline = (): void => {
      if (!up.closed) up.close(NGHTTP2_CANCEL);
      finish({
        kind: 'failed',
        error: failure("the call's grpc-timeout passed", CALL_DEADLINE_CODE),
        headersSent: answered,
      });
    };
    options.signal?.addEventListener('abort', deadline, { once: true });
    const timer =
      options.headersTimeoutMs > 0 && options.headersTimeoutMs < MAX_TIMER_MS
        ? setTimeout(() => {
            up.close(NGHTTP2_CANCEL);
            finish({
              kind: 'failed',
              error: failure(`no answer within ${options.headersTimeoutMs} ms`, 'UND_ERR_HEADERS_TIMEOUT'),
              headersSent: false,
            });
          }, options.headersTimeoutMs)
        : undefined;
    const clientGone = (): void => {
      // The client cancelled (RST_STREAM) or its connection went: the app's stream is cancelled too.
      if (!up.closed) up.close(NGHTTP2_CANCEL);
      finish({ kind: 'failed', error: failure('the client left', 'UND_ERR_ABORTED'), headersSent: answered });
    };
    downstream.once('close', clientGone);
    body.attach(up);
    up.on('error', () => undefined);
    up.once('response', (h: IncomingHttpHeaders & IncomingHttpStatusHeader, flags: number) => {
      clearTimeout(timer);
      status = h[':status'] ?? 0;
      grpcStatus = grpcStatusOf(h);
      const trailersOnly = (flags & END_STREAM) !== 0;
      options.onHeaders?.();
      if (options.accept && !options.accept(status, grpcStatus, trailersOnly, h)) {
        if (!up.closed) up.close(NGHTTP2_CANCEL);
        finish({ kind: 'declined', status, grpcStatus, headers: h });
        return;
      }
      if (downstream.destroyed || downstream.closed) {
        clientGone();
        return;
      }
      answered = true;
      const out = responseHeadersH2(h);
      options.decorate?.(out);
      // Trailers are waited for whenever the answer may have them: gRPC's always does.
      try {
        downstream.respond(out, { endStream: trailersOnly, waitForTrailers: !trailersOnly });
      } catch (e) {
        // Headers HTTP/2 refuses to send on: the answer cannot be relayed as it is.
        if (!up.closed) up.close(NGHTTP2_CANCEL);
        if (!downstream.closed) downstream.close(constants.NGHTTP2_INTERNAL_ERROR);
        finish({
          kind: 'failed',
          error: failure(`the answer's headers cannot be relayed: ${(e as Error).message}`, 'ECONNRESET'),
          headersSent: true,
        });
        return;
      }
      if (trailersOnly) return;
      up.once('trailers', (t: IncomingHttpHeaders) => {
        options.trailers(responseHeadersH2(t));
        const g = grpcStatusOf(t);
        if (g !== undefined) grpcStatus = g;
      });
      // Ended only once the upstream stream closed and said how: a stream reset after its data (its connection died)
      // must reach the client as a reset, not as an answer that ended without its trailers.
      piped = true;
      up.pipe(downstream, { end: false });
    });
    up.once('close', () => {
      clearTimeout(timer);
      if (settled) return;
      const code = up.rstCode ?? NGHTTP2_NO_ERROR;
      if (!answered) {
        // Refused (the callee had not started it) is always safe to retry: a connect failure, as undici calls it.
        const error =
          code === NGHTTP2_REFUSED_STREAM
            ? failure('the endpoint refused the stream (REFUSED_STREAM)', 'ECONNREFUSED')
            : failure(`the stream was reset before any answer (HTTP/2 error ${code})`, 'ECONNRESET');
        finish({ kind: 'failed', error, headersSent: false });
        return;
      }
      if (code !== NGHTTP2_NO_ERROR || !up.readableEnded) {
        // Reset after the answer began (the app crashed mid-stream): the client's stream is reset the same way, and the
        // attempt is a failure of the endpoint, not a success.
        if (!downstream.closed) downstream.close(code === NGHTTP2_NO_ERROR ? constants.NGHTTP2_INTERNAL_ERROR : code);
        finish({
          kind: 'failed',
          error: failure(`the stream was reset after the answer began (HTTP/2 error ${code})`, 'ECONNRESET'),
          headersSent: true,
        });
        return;
      }
      finish({ kind: 'relayed', status, grpcStatus });
      if (piped && !downstream.destroyed) downstream.end();
    });
  });
}
