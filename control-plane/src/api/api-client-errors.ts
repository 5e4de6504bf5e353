import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { httpErrorBody, type MeshletHttpError } from '@meshlet/shared';
import { ApiErrors } from '../errors.js';

/** What node's HTTP parser refused, said as the admin API says it: the problem and the fix. */
function explain(code: string | undefined): MeshletHttpError {
  if (code === 'HPE_HEADER_OVERFLOW')
    return ApiErrors.API_TOO_LARGE(
      'the request line and headers are over 16 KiB; send a shorter URL and fewer headers, and large data in a JSON body',
      { statusCode: 431 },
    );
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return ApiErrors.API_INVALID(
      'the request did not arrive whole in time (listen.limits.headersTimeoutMs and requestTimeoutMs); send it at once',
      { statusCode: 408 },
    );
  return ApiErrors.API_INVALID(
    `the request is not valid HTTP/1.1${code ? ` (${code})` : ''}; check the client or proxy that sent it`,
  );
}

/**
 * The control plane's `clientErrorHandler` (a fastify option): a request
 * node's parser refuses (a malformed request line, headers over 16 KiB, a
 * request that timed out) gets the admin API's JSON, `{error: {code:
 * MESHLET_*, message}}` with 400, 431 or 408, before the connection closes;
 * fastify's own answer would have no MESHLET_* code. A reset connection
 * gets nothing.
 */
export function apiClientErrors(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) {
    const error = explain(err.code);
    const body = JSON.stringify(httpErrorBody(error));
    socket.write(
      `HTTP/1.1 ${error.statusCode} ${STATUS_CODES[error.statusCode] ?? 'Error'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
