import { constants, type Http2ServerResponse } from 'node:http2';
import type { MeshletHttpError } from '@meshlet/shared';
import { GRPC_CODES } from '@meshlet/shared';
import { AgentErrorCodes, ERROR_HEADER } from '../../errors.js';

/** The gRPC code of an agent's own refusal: by its `MESHLET_*` code where one says more, else by gRPC's HTTP mapping. */
export function grpcCodeOf(err: MeshletHttpError): number {
  if (err.code === AgentErrorCodes.RATE_LIMITED) return GRPC_CODES['resource-exhausted'];
  if (err.code === AgentErrorCodes.UPSTREAM_TIMEOUT) return GRPC_CODES['deadline-exceeded'];
  switch (err.statusCode) {
    case 400:
      return GRPC_CODES.internal;
    case 401:
      return GRPC_CODES.unauthenticated;
    case 403:
      return GRPC_CODES['permission-denied'];
    case 404:
      return GRPC_CODES.unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return GRPC_CODES.unavailable;
    default:
      return GRPC_CODES.unknown;
  }
}

/** `grpc-message` as gRPC encodes it: percent-encoding every byte outside printable ASCII, and `%`. */
export function grpcMessage(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Answers a gRPC call with the agent's own refusal as gRPC does errors: a
 * trailers-only answer (status 200, `grpc-status`, `grpc-message` with the
 * same words as the JSON error, and `x-meshlet-error` with its code), which
 * every gRPC client reads as the call's status. An answer already begun is
 * reset instead (INTERNAL_ERROR).
 */
export function sendGrpcError(res: Http2ServerResponse, err: MeshletHttpError): void {
  const stream = res.stream;
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  res.statusCode = err.statusCode;
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(grpcCodeOf(err)),
      'grpc-message': grpcMessage(err.message),
      [ERROR_HEADER]: err.code,
    },
    { endStream: true },
  );
}
