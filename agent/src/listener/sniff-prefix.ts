import type { Socket } from 'node:net';

/**
 * Reads the first bytes of `socket` until they tell `prefix` from anything
 * else (the first byte that differs, or the whole prefix), puts them back
 * (`unshift`) and calls `decide(matched)`. A caller that sends nothing more
 * within `timeoutMs` (0: no limit here), or closes, is closed. What the
 * HTTP/2 preface and the TCP services' magic line are told apart with.
 */
export function sniffPrefix(
  socket: Socket,
  prefix: Buffer,
  timeoutMs: number,
  decide: (matched: boolean) => void,
): void {
  const chunks: Buffer[] = [];
  let seen = 0;
  const silent = (): void => {
    socket.destroy();
  };
  const done = (matched: boolean): void => {
    socket.off('readable', read);
    socket.off('end', silent);
    socket.off('timeout', silent);
    socket.setTimeout(0);
    const first = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    if (first !== undefined && first.length > 0) socket.unshift(first);
    decide(matched);
  };
  const read = (): void => {
    for (;;) {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) return;
      chunks.push(chunk);
      const upto = Math.min(seen + chunk.length, prefix.length);
      for (let i = seen; i < upto; i++) {
        if (chunk[i - seen] !== prefix[i]) {
          done(false);
          return;
        }
      }
      seen += chunk.length;
      if (seen >= prefix.length) {
        done(true);
        return;
      }
    }
  };
  if (timeoutMs > 0) {
    socket.setTimeout(timeoutMs);
    socket.once('timeout', silent);
  }
  socket.once('end', silent);
  socket.on('readable', read);
  read();
}
