import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { AppProtocol } from '@meshlet/shared';
import { CALLER_HEADER } from '../caller-headers.js';
import type { H2Outcome } from './relay-h2.js';
import { relayH2 } from './relay-h2.js';
import { ReplayableBody } from './replayable-body.js';
import { requestHeadersH2 } from './h2-headers.js';
import { isGrpcRequest, isH2Request } from './h2-server-settings.js';
import type { AppSession } from './app-session.js';
import { grpcDeadline, grpcTimeoutHeader } from './grpc-timeout.js';

/**
 * Whether the inbound side speaks HTTP/2 to the app for this request: an
 * HTTP/2 request for a service whose policy says `http2` or `grpc`, or,
 * with no protocol declared, a gRPC call (gRPC is HTTP/2 only). Anything
 * else goes to the app over HTTP/1.1.
 */
export function toAppOverH2(req: IncomingMessage, protocol: AppProtocol | undefined): boolean {
  if (!isH2Request(req)) return false;
  if (protocol === undefined) return isGrpcRequest(req);
  return protocol !== 'http1';
}

/**
 * Relays an HTTP/2 request to the app over its HTTP/2 session: the caller's
 * SPIFFE ID in `x-meshlet-caller` (forged identity headers dropped), the
 * body and the answer streamed both ways with flow control, trailers
 * intact, cancellation passed on. `grpc-timeout`, when shorter, bounds the
 * wait for the answer's headers.
 */
export async function relayToApp(
  app: AppSession,
  incoming: IncomingMessage,
  response: ServerResponse,
  caller: string | undefined,
  requestTimeoutMs: number,
): Promise<H2Outcome> {
  const req = incoming as unknown as Http2ServerRequest;
  const res = response as unknown as Http2ServerResponse;
  let session;
  try {
    session = await app.get();
  } catch (e) {
    return { kind: 'failed', error: e as Error, headersSent: false };
  }
  const authority = req.headers[':authority'];
  const headers = requestHeadersH2(
    req.headers,
    { method: req.method, path: req.url, authority: typeof authority === 'string' ? authority : 'localhost' },
    true,
  );
  if (caller !== undefined) headers[CALLER_HEADER] = caller;
  const deadline = grpcDeadline(req.headers['grpc-timeout'], performance.now());
  const left = deadline === undefined ? undefined : Math.max(1, deadline - performance.now());
  if (left !== undefined) headers['grpc-timeout'] = grpcTimeoutHeader(left);
  // Nothing is retried from here: nothing is kept.
  const body = new ReplayableBody(req, 0, req.stream.endAfterHeaders);
  const outcome = await relayH2(session, headers, body, res.stream, {
    headersTimeoutMs: Math.min(requestTimeoutMs || Infinity, left ?? Infinity),
    trailers: (t) => res.addTrailers(t),
  });
  if (outcome.kind === 'relayed') res.statusCode = outcome.status;
  return outcome;
}
