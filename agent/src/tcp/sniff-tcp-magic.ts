import type { Socket } from 'node:net';
import { sniffPrefix } from '../listener/sniff-prefix.js';
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
  sniffPrefix(socket, TCP_MAGIC, timeoutMs, decide);
}
