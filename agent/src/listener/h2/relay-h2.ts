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
}

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
    let up: ClientHttp2Stream;
    try {
      up = session.request(headers, { endStream: body.empty });
    } catch (e) {
      resolve({
        kind: 'failed',
        error: failure(`cannot open a stream: ${(e as Error).message}`, 'ECONNRESET', e),
        headersSent: false,
      });
      return;
    }
    let settled = false;
    let status = 0;
    let grpcStatus: number | undefined;
    let answered = false;
    const finish = (outcome: H2Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      downstream.off('close', clientGone);
      body.detach();
      resolve(outcome);
    };
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
      if (downstream.destroyed || downstream.closed) return;
      answered = true;
      const out = responseHeadersH2(h);
      options.decorate?.(out);
      // Trailers are waited for whenever the answer may have them: gRPC's always does.
      downstream.respond(out, { endStream: trailersOnly, waitForTrailers: !trailersOnly });
      if (trailersOnly) return;
      let trailers: OutgoingHttpHeaders = {};
      up.once('trailers', (t: IncomingHttpHeaders) => {
        trailers = responseHeadersH2(t);
        const g = grpcStatusOf(t);
        if (g !== undefined) grpcStatus = g;
      });
      downstream.once('wantTrailers', () => {
        if (!downstream.destroyed) downstream.sendTrailers(trailers);
      });
      up.pipe(downstream);
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
      if (code !== NGHTTP2_NO_ERROR && !downstream.closed) downstream.close(code);
      finish({ kind: 'relayed', status, grpcStatus });
    });
  });
}
