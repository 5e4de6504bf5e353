import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { ERROR_HEADER } from '../errors.js';
import { connectionNamed, dropNamed, HOP_BY_HOP } from './hop-headers.js';

/** How a relayed attempt ended. */
export type RelayOutcome =
  /** The answer went to the client (completely, or until the client left). */
  | { kind: 'relayed'; status: number }
  /** `accept` declined the answer: its body was read and dropped, the connection stays reusable. */
  | { kind: 'declined'; status: number; peerError: string | undefined }
  /** No answer: connect failure, reset, timeout, abort. `headersSent` says whether the client already got a status. */
  | { kind: 'failed'; error: Error; headersSent: boolean };

/** Options of {@link RelayHandler}. */
export interface RelayOptions {
  /** Drop `x-meshlet-error` from the answer: only an agent may say that (callers retry on it). */
  fromApp: boolean;
  /** Called with the status and the peer's `x-meshlet-error` before anything reaches the client; false declines the answer (for a retry). */
  accept?: (status: number, peerError: string | undefined) => boolean;
  /** Called when the response headers arrive (for latency). */
  onHeaders?: () => void;
  /**
   * A precise deadline for the response headers. undici checks its own
   * `headersTimeout` on a coarse clock (about one second), so a deadline
   * below a couple of seconds gets a timer of its own.
   */
  headersDeadlineMs?: number;
}

/** Below this, the headers deadline gets its own timer rather than undici's coarse one. */
export const PRECISE_TIMEOUT_BELOW_MS = 2_000;

/**
 * An undici dispatch handler that writes the upstream answer straight into
 * the client's response: headers from the raw list, body chunks as they
 * come, with backpressure. It replaces `request()` + `pipe`, which build a
 * headers object, a Readable and its buffering per request; on the
 * proxy-overhead benchmark this is the agent's largest saving per request.
 */
export class RelayHandler implements Dispatcher.DispatchHandler {
  readonly #res: ServerResponse;
  readonly #o: RelayOptions;
  readonly #done: (outcome: RelayOutcome) => void;
  #abort: ((err?: Error) => void) | undefined;
  #declined = false;
  #status = 0;
  #peerError: string | undefined;
  #finished = false;
  #reported = false;
  #timer: NodeJS.Timeout | undefined;
  #resume: (() => void) | undefined;
  #timedOut: Error | undefined;
  #lost: Error | undefined;
  #onClose = (): void => {
    if (!this.#finished && !this.#res.writableFinished)
      this.#abort?.(Object.assign(new Error('the client went away'), { name: 'AbortError', code: 'UND_ERR_ABORTED' }));
  };

  constructor(res: ServerResponse, options: RelayOptions, done: (outcome: RelayOutcome) => void) {
    this.#res = res;
    this.#o = options;
    this.#done = done;
    res.on('close', this.#onClose);
    const deadline = options.headersDeadlineMs;
    if (deadline !== undefined && deadline > 0 && deadline < PRECISE_TIMEOUT_BELOW_MS) {
      this.#timer = setTimeout(() => {
        this.#timedOut = Object.assign(new Error(`no response headers within ${deadline} ms`), {
          code: 'UND_ERR_HEADERS_TIMEOUT',
        });
        this.#abort?.(this.#timedOut);
      }, deadline);
    }
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#timedOut) abort(this.#timedOut);
    else if (this.#res.destroyed)
      abort(Object.assign(new Error('the client went away'), { name: 'AbortError', code: 'UND_ERR_ABORTED' }));
  }

  /**
   * Gives the attempt up with `err` if it is connected and no answer has
   * begun (its endpoint was declared gone; see `InFlightAttempts`); false
   * before the connection (a connection to a host that is gone fails on its
   * own within the connect timeout, as a connect failure) and once headers
   * came or it ended.
   */
  abandon(err: Error): boolean {
    if (this.#abort === undefined || this.#finished || this.#status !== 0 || this.#lost || this.#timedOut) return false;
    this.#lost = err;
    if (this.#timer) clearTimeout(this.#timer);
    this.#abort(err);
    return true;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx interim answers (102, 103) are dropped: the final answer follows.
    if (statusCode < 200) return true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#o.onHeaders?.();
    const headers: string[] = [];
    let peerError: string | undefined;
    let named: string[] | undefined;
    const fromApp = this.#o.fromApp;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = (rawHeaders[i] as Buffer).toString('latin1');
      const lower = name.toLowerCase();
      const value = (rawHeaders[i + 1] as Buffer).toString('latin1');
      if (lower === ERROR_HEADER) {
        if (fromApp) continue;
        peerError = value;
      } else if (lower === 'connection') {
        const more = connectionNamed(value);
        if (more) (named ??= []).push(...more);
      }
      if (HOP_BY_HOP.has(lower)) continue;
      headers.push(name, value);
    }
    if (named) dropNamed(headers, named);
    this.#status = statusCode;
    this.#peerError = peerError;
    if (this.#o.accept && !this.#o.accept(statusCode, peerError)) {
      this.#declined = true;
      return true;
    }
    const res = this.#res;
    if (res.destroyed) return true;
    res.writeHead(statusCode, headers);
    this.#resume = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#declined) return true;
    const res = this.#res;
    if (res.destroyed) return true;
    if (res.write(chunk)) return true;
    // Backpressure: undici pauses until the client has drained; most answers never get here.
    if (this.#resume) res.once('drain', this.#resume);
    return false;
  }

  onComplete(): void {
    if (this.#reported) return;
    this.#finish();
    if (this.#declined) {
      this.#report({ kind: 'declined', status: this.#status, peerError: this.#peerError });
      return;
    }
    this.#res.end();
    this.#report({ kind: 'relayed', status: this.#status });
  }

  onError(error: Error): void {
    // Reported once: `done` releases the endpoint's active count and counts the inbound request. undici reports an
    // error after an onComplete that threw before it reported (then this is the attempt's only report).
    if (this.#reported) return;
    this.#finish();
    // undici reports our own abort as an abort: it was a timeout, or the endpoint was declared gone.
    const err = this.#timedOut ?? this.#lost ?? error;
    const res = this.#res;
    if (this.#status !== 0 && !this.#declined) {
      // Mid-body: the client has a status already; all that is left is to cut it off.
      res.destroy();
      this.#report({ kind: 'relayed', status: this.#status });
      return;
    }
    this.#report({ kind: 'failed', error: err, headersSent: res.headersSent });
  }

  #report(outcome: RelayOutcome): void {
    this.#reported = true;
    this.#done(outcome);
  }

  #finish(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#finished = true;
    this.#res.off('close', this.#onClose);
  }
}
