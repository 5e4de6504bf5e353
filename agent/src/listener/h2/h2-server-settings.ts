import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest, Settings } from 'node:http2';

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

/**
 * Wraps a request handler of an HTTP/2 server (the compatibility API) so
 * that a request whose answer is complete while its body is unread (a
 * refusal before forwarding, an attempt that never took the body) has its
 * body read and dropped: an HTTP/2 stream closes only once both sides
 * ended, and a stream left open counts against the connection's stream
 * limit for good and keeps the session from closing. The response also
 * gets the `destroyed` an HTTP/1.1 response has (the stream closed), which
 * the shared code reads to tell that the client left.
 */
export function drainingUnreadBodies<Req extends IncomingMessage, Res>(
  handle: (req: Req, res: Res) => void,
): (req: Req, res: Res) => void {
  return (req, res) => {
    // The compatibility response has no `destroyed`: the shared code asks it whether the client left.
    const stream = (req as unknown as Http2ServerRequest).stream;
    Object.defineProperty(res, 'destroyed', { get: () => stream.destroyed || stream.closed, configurable: true });
    // The stream's own end (an answer sent with `respond` alone never ends the compatibility response).
    (req as unknown as Http2ServerRequest).stream.once('finish', () => {
      if (req.readableEnded) return;
      req.removeAllListeners('data');
      req.resume();
    });
    handle(req, res);
  };
}
