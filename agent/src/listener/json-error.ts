import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import { httpErrorBody, type MeshletHttpError } from '@meshlet/shared';
import { ERROR_HEADER } from '../errors.js';
import { sendGrpcError } from './h2/grpc-answer.js';
import { isGrpcRequest, isH2Request } from './h2/h2-server-settings.js';

/**
 * Answers `err` with its status, its JSON body (`extra` added to it) and the
 * `x-meshlet-error` header, unless headers are already out; a gRPC call
 * gets it as a gRPC status (see `sendGrpcError`).
 */
export function sendJsonError(res: ServerResponse, err: MeshletHttpError, extra: Record<string, unknown> = {}): void {
  // A gRPC call reads a gRPC status, never a JSON body: the same refusal in gRPC's shape.
  const req = res.req as ServerResponse['req'] | undefined;
  if (req !== undefined && isH2Request(req) && isGrpcRequest(req)) {
    sendGrpcError(res as unknown as Http2ServerResponse, err);
    return;
  }
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
