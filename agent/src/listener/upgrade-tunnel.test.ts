import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import { type AddressInfo, createServer, type Server as NetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange } from './test-support/loopback.js';
import { tunnelUpgrade } from './upgrade-tunnel.js';

// The upgrade tunnel with a real app on loopback that answers in its own
// way: raw bytes in, raw bytes out, as Go's net/http or Express answer an
// upgrade request they do not support (plain HTTP, connection kept).

/** An app that answers every request it parses with `answer`, and records the request lines it saw. */
async function app(
  answer: (requestLine: string) => string,
): Promise<{ server: NetServer; port: number; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((socket) => {
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
        const line = buffered.slice(0, buffered.indexOf('\r\n'));
        seen.push(`${line}|${/x-meshlet-caller: ([^\r]*)/i.exec(buffered.slice(0, end))?.[1] ?? ''}`);
        buffered = buffered.slice(end + 4);
        socket.write(answer(line));
      }
    });
    socket.on('error', () => socket.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, seen };
}

/** A listener that tunnels every upgrade to `appPort`, stripping identity headers as the inbound side does. */
async function tunnel(appPort: number): Promise<{ server: Server; port: number }> {
  const server = createHttpServer();
  server.on('upgrade', (req, socket, head) => {
    void tunnelUpgrade(req, socket, head, {
      host: '127.0.0.1',
      port: appPort,
      path: req.url ?? '/',
      connectTimeoutMs: 1000,
      stripIdentityHeaders: true,
      extraHeaders: { 'x-meshlet-caller': 'spiffe://meshlet.local/svc/web' },
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

const UPGRADE = 'GET /public HTTP/1.1\r\nhost: hello\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n';
const SMUGGLED = 'GET /admin HTTP/1.1\r\nhost: hello\r\nx-meshlet-caller: spiffe://meshlet.local/svc/orders\r\n\r\n';

describe('tunnelUpgrade', () => {
  const closers: Array<() => void> = [];
  afterEach(() => {
    for (const close of closers.splice(0)) close();
  });

  it('an upgrade the app answers as plain HTTP smuggles no second request, nor a spoofed caller, past the tunnel', async () => {
    const a = await app(() => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
    const t = await tunnel(a.port);
    closers.push(
      () => a.server.close(),
      () => t.server.close(),
    );
    const got = await exchange(t.port, UPGRADE + SMUGGLED, (g) => g.endsWith('\r\n\r\nok'), 3000);
    // The app's answer comes back, on a connection that closes after it.
    expect(got).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(got).toContain('connection: close\r\n');
    expect(got).not.toContain('keep-alive');
    // The app saw the upgrade request only, with the caller the tunnel set: never /admin, never the spoofed name.
    expect(a.seen).toEqual(['GET /public HTTP/1.1|spiffe://meshlet.local/svc/web']);
  });

  it('carries bytes both ways once the app answers 101, and the client’s first bytes after it', async () => {
    const a = await app((line) =>
      line.startsWith('GET /public')
        ? 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n'
        : 'HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\necho',
    );
    const t = await tunnel(a.port);
    closers.push(
      () => a.server.close(),
      () => t.server.close(),
    );
    // After the switch, this app reads the next bytes as a request again: a stand-in for frames that reach it.
    const got = await exchange(t.port, UPGRADE + 'GET /frame HTTP/1.1\r\n\r\n', (g) => g.endsWith('echo'), 3000);
    expect(got).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(got).toContain('echo');
    expect(a.seen.map((s) => s.split('|')[0])).toEqual(['GET /public HTTP/1.1', 'GET /frame HTTP/1.1']);
  });
});
