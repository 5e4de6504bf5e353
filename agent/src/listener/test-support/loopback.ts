// Shared fixtures for the listener unit tests: upstream apps on loopback
// whose answers a test can change, and a client that sends through the
// outbound listener. Test code only: the agent's build excludes
// `test-support` folders (agent/tsconfig.json).
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { type Endpoint, systemClock } from '@meshlet/shared';

/** An HTTP server on 127.0.0.1 standing for an endpoint; the fields say how it answers next. */
export interface Upstream {
  id: string;
  server: Server;
  port: number;
  hits: number;
  /** The request target of the last request it got. */
  lastUrl: string;
  status: number;
  /** Extra answer headers. */
  headers: Record<string, string>;
  delayMs: number;
  earlyHints: boolean;
  /** Answer with this many bytes instead of the id. */
  bodyBytes: number;
}

/**
 * Starts an upstream that answers `status` with its id as the body and an
 * `x-instance` header.
 *
 * @param id - the endpoint id it stands for
 * @param status - the status it answers until told otherwise
 */
export async function upstream(id: string, status = 200): Promise<Upstream> {
  const u: Upstream = {
    id,
    server: createServer(),
    port: 0,
    hits: 0,
    lastUrl: '',
    status,
    headers: {},
    delayMs: 0,
    earlyHints: false,
    bodyBytes: 0,
  };
  u.server.on('request', (req, res) => {
    u.hits++;
    u.lastUrl = req.url ?? '';
    req.resume();
    req.on('end', () => {
      if (u.earlyHints) res.writeEarlyHints({ link: '</a.css>; rel=preload' });
      setTimeout(() => {
        if (res.destroyed) return;
        res.writeHead(u.status, { 'content-type': 'text/plain', 'x-instance': id, ...u.headers });
        res.end(u.bodyBytes > 0 ? Buffer.alloc(u.bodyBytes, 120) : id);
      }, u.delayMs);
    });
  });
  await new Promise<void>((r) => u.server.listen(0, '127.0.0.1', r));
  u.port = (u.server.address() as AddressInfo).port;
  return u;
}

/** Closes a server and every connection it holds. */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

/**
 * The endpoint of an upstream, in tier `tier`.
 *
 * @param u - the upstream
 * @param tier - its priority tier
 */
export const ep = (u: Upstream, tier = 0): Endpoint => ({
  id: u.id,
  host: '127.0.0.1',
  port: u.port,
  tier,
  weight: 1,
  labels: {},
});

/** An answer as {@link send} returns it. */
export interface Answer {
  status: number;
  instance: string;
  body: string;
}

/**
 * Sends one request for `http://{service}/x` (absolute form) to the outbound listener on `port`.
 *
 * @param port - the listener's port
 * @param method - the request method
 * @param body - a request body, if any
 * @param abortAfterMs - the client gives up after this long (the promise then rejects)
 * @param service - the service the URL names
 */
export function send(
  port: number,
  method = 'GET',
  body?: string,
  abortAfterMs?: number,
  service = 'svc',
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: `http://${service}/x`,
        agent: false,
        headers: body ? { 'content-length': Buffer.byteLength(body) } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, instance: String(res.headers['x-instance'] ?? ''), body: text }),
        );
      },
    );
    req.on('error', reject);
    if (abortAfterMs !== undefined) setTimeout(() => req.destroy(new Error('aborted by the test')), abortAfterMs);
    req.end(body);
  });
}

/**
 * Waits until `condition` holds, polling every few milliseconds; throws after `timeoutMs`.
 *
 * @param condition - what to wait for
 * @param what - named in the error
 * @param timeoutMs - the deadline
 */
export async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = systemClock() + timeoutMs;
  while (!condition()) {
    if (systemClock() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Opens a connection to `port`, sends `bytes` and collects what comes back
 * (as latin1) until `enough` holds for it or the other side closes; fails
 * after `timeoutMs`. The connection stays open: `closed()` says whether the
 * other side has closed it since.
 *
 * @param port - the listener's port on 127.0.0.1
 * @param bytes - what to send
 * @param enough - whether what came back so far is the whole answer
 * @param timeoutMs - the deadline
 */
export async function openExchange(
  port: number,
  bytes: string | Buffer,
  enough: (got: string) => boolean,
  timeoutMs = 5_000,
): Promise<{ got: string; closed: () => boolean; socket: Socket }> {
  const socket: Socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let got = '';
  let closed = false;
  socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  socket.write(bytes);
  await until(() => closed || enough(got), 'the answer', timeoutMs);
  return { got, closed: () => closed, socket };
}

/**
 * {@link openExchange}, then the connection is closed; resolves with what came back.
 *
 * @param port - the listener's port on 127.0.0.1
 * @param bytes - what to send
 * @param enough - whether what came back so far is the whole answer
 * @param timeoutMs - the deadline
 */
export async function exchange(
  port: number,
  bytes: string | Buffer,
  enough: (got: string) => boolean,
  timeoutMs = 5_000,
): Promise<string> {
  let socket: Socket | undefined;
  try {
    const x = await openExchange(port, bytes, enough, timeoutMs);
    socket = x.socket;
    return x.got;
  } finally {
    socket?.destroy();
  }
}
