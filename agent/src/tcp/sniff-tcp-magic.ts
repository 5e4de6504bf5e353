import type { Socket } from 'node:net';
import { TCP_MAGIC } from './tcp-preamble.js';

/**
 * Reads the first bytes of a plaintext connection until they tell the TCP
 * magic line `MESHLET-TCP/1\n` from anything else (the first byte that
 * differs, or the whole line), puts them back (`unshift`) and calls
 * `decide`: HTTP (whose methods such as `MOVE` may share a first byte) and
 * TCP services share the inbound port. A caller that sends nothing more in
 * `timeoutMs`, or closes, is closed.
 */
export function sniffTcpMagic(socket: Socket, timeoutMs: number, decide: (tcp: boolean) => void): void {
  const chunks: Buffer[] = [];
  let seen = 0;
  const silent = (): void => {
    socket.destroy();
  };
  const done = (tcp: boolean): void => {
    socket.off('readable', read);
    socket.off('end', silent);
    socket.off('timeout', silent);
    socket.setTimeout(0);
    const first = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    if (first !== undefined && first.length > 0) socket.unshift(first);
    decide(tcp);
  };
  const read = (): void => {
    for (;;) {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) return;
      chunks.push(chunk);
      const upto = Math.min(seen + chunk.length, TCP_MAGIC.length);
      for (let i = seen; i < upto; i++) {
        if (chunk[i - seen] !== TCP_MAGIC[i]) {
          done(false);
          return;
        }
      }
      seen += chunk.length;
      if (seen >= TCP_MAGIC.length) {
        done(true);
        return;
      }
    }
  };
  socket.setTimeout(timeoutMs);
  socket.once('timeout', silent);
  socket.once('end', silent);
  socket.on('readable', read);
  read();
}
