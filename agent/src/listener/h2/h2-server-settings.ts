import type { IncomingMessage } from 'node:http';
import type { Settings } from 'node:http2';

/**
 * The SETTINGS every HTTP/2 server of the agent sends: at most 256 streams
 * open per connection (Go's and grpc-go's default is 250; Node's own is
 * unlimited, which lets one client open streams without end) and Node's
 * defaults otherwise (64 KiB windows, 16 KiB frames, 64 KiB of header
 * list). Node's session already limits invalid frames, rejected streams
 * and memory per session (the rapid-reset and settings floods).
 */
export const H2_SERVER_SETTINGS: Settings = { maxConcurrentStreams: 256 };

/** Whether a request came over HTTP/2 (the compatibility API's request stands in for `IncomingMessage`). */
export function isH2Request(req: IncomingMessage): boolean {
  return req.httpVersionMajor === 2;
}

/** Whether a request is a gRPC call: `content-type: application/grpc` or `application/grpc+proto` and the like. */
export function isGrpcRequest(req: { headers: IncomingMessage['headers'] }): boolean {
  const type = req.headers['content-type'];
  return typeof type === 'string' && type.startsWith('application/grpc') && !type.startsWith('application/grpc-web');
}
