import type { ServerResponse } from 'node:http';
import { httpErrorBody, type MeshletHttpError } from '@meshlet/shared';
import { ERROR_HEADER } from '../errors.js';

/**
 * Answers `err` with its status, its JSON body (`extra` added to it) and the
 * `x-meshlet-error` header, unless headers are already out.
 */
export function sendJsonError(res: ServerResponse, err: MeshletHttpError, extra: Record<string, unknown> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(httpErrorBody(err, extra));
  res.writeHead(err.statusCode, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    [ERROR_HEADER]: err.code,
  });
  res.end(body);
}
