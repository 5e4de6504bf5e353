import type { Socket } from 'node:net';

/** How {@link readLine} ended: a line (without its newline) and the bytes after it, or why none came. */
export type LineResult =
  { kind: 'line'; line: string; rest: Buffer } | { kind: 'too-long' } | { kind: 'timeout' } | { kind: 'closed' };

/**
 * Reads one `\n`-terminated line from `socket`, at most `maxBytes` long
 * (newline included), within `timeoutMs`; the bytes read past the newline
 * are handed back (`rest`), the socket left paused. A peer that sends more
 * than `maxBytes` without a newline, or too slowly (a slowloris), gets
 * `too-long` or `timeout` at once, whatever it sends next: the reader never
 * buffers more than `maxBytes` and never waits past its deadline.
 */
export function readLine(socket: Socket, maxBytes: number, timeoutMs: number): Promise<LineResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: LineResult): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onClosed);
      socket.off('close', onClosed);
      socket.off('error', onClosed);
      socket.pause();
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      const nl = chunk.indexOf(0x0a);
      if (nl === -1) {
        size += chunk.length;
        if (size >= maxBytes) finish({ kind: 'too-long' });
        else chunks.push(chunk);
        return;
      }
      if (size + nl + 1 > maxBytes) {
        finish({ kind: 'too-long' });
        return;
      }
      chunks.push(chunk.subarray(0, nl));
      finish({ kind: 'line', line: Buffer.concat(chunks).toString('utf8'), rest: chunk.subarray(nl + 1) });
    };
    const onClosed = (): void => finish({ kind: 'closed' });
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    timer.unref();
    socket.on('data', onData);
    socket.once('end', onClosed);
    socket.once('close', onClosed);
    socket.once('error', onClosed);
    socket.resume();
  });
}
