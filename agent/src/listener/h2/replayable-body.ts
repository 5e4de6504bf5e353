import type { ClientHttp2Stream } from 'node:http2';
import type { Readable } from 'node:stream';

/**
 * A request body read from the client as it comes, sent on to the current
 * attempt's stream with backpressure (the client is paused while the
 * attempt cannot take more), and kept up to `maxBytes` so that an attempt
 * that fails before any answer can be retried with the same bytes. A body
 * over `maxBytes` is not kept: it is no longer {@link replayable}. Streaming
 * calls thus flow at once (a bidirectional call never waits for its body to
 * end), and unary ones stay retryable.
 */
export class ReplayableBody {
  readonly #source: Readable;
  readonly #maxBytes: number;
  #kept: Buffer[] = [];
  #size = 0;
  #overflow = false;
  #ended = false;
  #target: ClientHttp2Stream | undefined;
  /** Reading the whole body with no target (see {@link readAll}). */
  #draining = false;
  #whenDone: Array<() => void> = [];
  readonly #drain = (): void => {
    this.#source.resume();
  };

  /**
   * `noBody`: the client's HEADERS frame ended its stream (END_STREAM, as
   * `Http2Stream.endAfterHeaders` tells): the body is known to be empty at
   * once, so the attempt's stream is opened ended too (its HEADERS carry
   * END_STREAM) rather than followed by an empty DATA frame once the
   * client's end has been read.
   */
  constructor(source: Readable, maxBytes: number, noBody = false) {
    this.#source = source;
    this.#maxBytes = maxBytes;
    if (noBody) {
      this.#ended = true;
      // Nothing to read but its end, which lets the request close as one that was read.
      source.resume();
      return;
    }
    source.pause();
    source.on('data', (chunk: Buffer) => this.#data(chunk));
    source.once('end', () => {
      this.#ended = true;
      for (const done of this.#whenDone.splice(0)) done();
      const target = this.#target;
      if (target && !target.destroyed) target.end();
    });
  }

  /** Whether every byte sent so far is kept (the body can be sent again from its start). */
  get replayable(): boolean {
    return !this.#overflow;
  }

  /** Whether the client sent its whole body and it is all kept: nothing is waited for on a retry. */
  get complete(): boolean {
    return this.#ended && !this.#overflow;
  }

  /** Whether the body is known to be empty (the client's request ended with its headers). */
  get empty(): boolean {
    return this.#ended && this.#size === 0 && !this.#overflow;
  }

  /** Sends the body to `target`: what is kept, then the rest as it comes. */
  attach(target: ClientHttp2Stream): void {
    this.detach();
    this.#target = target;
    for (const chunk of this.#kept) target.write(chunk);
    if (this.#ended) {
      target.end();
      return;
    }
    target.on('drain', this.#drain);
    if (target.writableNeedDrain) return;
    this.#source.resume();
  }

  /**
   * The whole body, read to its end with no stream to send it to (an
   * endpoint that speaks HTTP/1.1 only gets it buffered), or undefined when
   * it is larger than `maxBytes` (then it cannot be sent that way).
   */
  async readAll(): Promise<Buffer | undefined> {
    this.detach();
    if (!this.#ended && !this.#overflow) {
      this.#draining = true;
      await new Promise<void>((resolve) => {
        this.#whenDone.push(resolve);
        this.#source.resume();
      });
      this.#draining = false;
    }
    return this.#overflow ? undefined : Buffer.concat(this.#kept);
  }

  /** Stops sending to the current target (its attempt failed); the client is paused until the next {@link attach}. */
  detach(): void {
    this.#target?.off('drain', this.#drain);
    this.#target = undefined;
    this.#source.pause();
  }

  #data(chunk: Buffer): void {
    if (!this.#overflow) {
      this.#size += chunk.length;
      if (this.#size > this.#maxBytes) {
        this.#overflow = true;
        this.#kept = [];
      } else this.#kept.push(chunk);
    }
    if (this.#draining && this.#overflow) {
      // Too large to buffer: nothing more is read for it.
      this.#source.pause();
      for (const done of this.#whenDone.splice(0)) done();
      return;
    }
    const target = this.#target;
    if (target === undefined || target.destroyed) {
      if (!this.#draining) this.#source.pause();
      return;
    }
    if (!target.write(chunk)) this.#source.pause();
  }
}
