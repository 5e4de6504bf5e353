import type { Socket } from 'node:net';
import { sniffPrefix } from '../sniff-prefix.js';

/** What every HTTP/2 connection opens with (RFC 9113 §3.4): a client speaking h2c with prior knowledge sends it first. */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** The protocol a plaintext connection speaks, told by its first bytes. */
export type WireProtocol = 'h2' | 'http1';

/**
 * Reads the first bytes of `socket` until they tell the HTTP/2 preface from
 * anything else (the first byte that differs, or the whole preface), puts
 * them back (`unshift`) and calls `decide`. HTTP/1.1 and cleartext HTTP/2
 * thus share one port, as Envoy's and Linkerd's listeners do. A caller has
 * `timeoutMs` for those bytes (the listener's headers timeout: no parser
 * times it out before a protocol is chosen); one that sends nothing in time,
 * or closes first, is closed.
 */
export function sniffPreface(socket: Socket, timeoutMs: number, decide: (protocol: WireProtocol) => void): void {
  socket.on('error', () => socket.destroy());
  sniffPrefix(socket, H2_PREFACE, timeoutMs, (h2) => decide(h2 ? 'h2' : 'http1'));
}
