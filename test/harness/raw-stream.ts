import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { waitFor } from './wait.js';

/** A WebSocket upgrade made by hand, to behave as no real client would (announce a frame and never send it, stay silent). */
export interface RawStream {
  socket: Socket;
  /** The HTTP status of the upgrade's answer (101 when it became a WebSocket). */
  status: number;
  /** The answer's headers, lower-case names. */
  headers: Record<string, string>;
  /** The answer's body, for a refused upgrade. */
  body: string;
  /** The code of the first close frame the server sent, once one came. */
  closeCode: () => number | undefined;
  /** Whether the server ended the TCP connection. */
  ended: () => boolean;
  /** Bytes received after the upgrade's answer. */
  received: () => Buffer;
}

/**
 * Opens `/v1/stream` on `port` over plain TCP from `localAddress` (any
 * 127.x.y.z on Linux, so a test can be several source addresses), with
 * `headers` added to the upgrade. Never answers a close frame, as a hostile
 * client would not.
 */
export async function rawStream(
  port: number,
  { localAddress = '127.0.0.1', headers = {} }: { localAddress?: string; headers?: Record<string, string> } = {},
): Promise<RawStream> {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  let buf = Buffer.alloc(0);
  let ended = false;
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
  });
  socket.on('close', () => {
    ended = true;
  });
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.write(
    `GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n${extra}\r\n`,
  );
  await waitFor('the answer to the upgrade', () => buf.indexOf('\r\n\r\n') >= 0 || ended, { intervalMs: 10 });
  if (buf.indexOf('\r\n\r\n') < 0) throw new Error(`no answer to the upgrade (got ${JSON.stringify(String(buf))})`);
  const headEnd = buf.indexOf('\r\n\r\n');
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1]);
  const answer: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    answer[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const start = headEnd + 4;
  if (status !== 101) {
    const length = Number(answer['content-length'] ?? 0);
    await waitFor('the body of the answer', () => buf.length >= start + length || ended, { intervalMs: 10 });
  }
  const received = () => buf.subarray(start);
  return {
    socket,
    status,
    headers: answer,
    body: status === 101 ? '' : received().toString('utf8'),
    closeCode: () => {
      const b = received();
      // A server frame is unmasked: 0x88 (FIN + close), a length, then the 2-byte code.
      for (let i = 0; i + 4 <= b.length;) {
        const len = (b[i + 1] as number) & 0x7f;
        const header = len === 126 ? 4 : len === 127 ? 10 : 2;
        const size = len === 126 ? b.readUInt16BE(i + 2) : len === 127 ? Number(b.readBigUInt64BE(i + 2)) : len;
        if (((b[i] as number) & 0x0f) === 0x8) return b.readUInt16BE(i + header);
        i += header + size;
      }
      return undefined;
    },
    ended: () => ended,
    received,
  };
}

/** A client frame's header announcing a binary message of `length` bytes (masked, as clients must). */
export function frameHeader(length: number): Buffer {
  const head = Buffer.alloc(14);
  head[0] = 0x82;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(BigInt(length), 2);
  randomBytes(4).copy(head, 10);
  return head;
}
