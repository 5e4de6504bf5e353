import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

/** A request body, buffered when small enough to be sent again on a retry. */
export type RequestBody = { replayable: true; body: Buffer | null } | { replayable: false; body: Readable };

/** The body of a request without one. */
export const NO_BODY: RequestBody = Object.freeze({ replayable: true, body: null });

async function* concat(head: Buffer[], rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  for (const b of head) yield b;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}

/**
 * Reads the body into memory when it is at most `limit` bytes, so a retry
 * can send it again (Envoy's per-request buffer limit). A larger body (by
 * `content-length`, or found to be larger while reading a chunked one) is
 * streamed through instead: what was read so far, then the rest; such a
 * request gets one attempt only.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<RequestBody> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > limit || limit === 0) return { replayable: false, body: req };
  const chunks: Buffer[] = [];
  let size = 0;
  const it = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  for (;;) {
    const next = await it.next();
    if (next.done) return { replayable: true, body: Buffer.concat(chunks, size) };
    chunks.push(next.value);
    size += next.value.length;
    if (size > limit) return { replayable: false, body: Readable.from(concat(chunks, it), { objectMode: false }) };
  }
}
