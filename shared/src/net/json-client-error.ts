import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { httpErrorBody, type MeshletHttpError } from '../errors.js';

/**
 * A fastify `clientErrorHandler` that answers in meshlet's JSON shape: a
 * request node's parser refuses (a malformed request line, headers over
 * 16 KiB, a request that timed out) gets `{error: {code: MESHLET_*,
 * message}}` with the status of the error `explain` gives for node's error
 * code, then the connection closes; fastify's own answer has no MESHLET_*
 * code. A reset connection gets nothing.
 */
export function jsonClientErrorHandler(
  explain: (code: string | undefined) => MeshletHttpError,
): (err: Error & { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    if (socket.writable) {
      const error = explain(err.code);
      const body = JSON.stringify(httpErrorBody(error));
      socket.write(
        `HTTP/1.1 ${error.statusCode} ${STATUS_CODES[error.statusCode] ?? 'Error'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
