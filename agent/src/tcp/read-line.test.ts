import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readLine } from './read-line.js';

let server: Server | undefined;

/** A connected pair on loopback: what the test writes to `peer` arrives at `socket`. */
async function pair(): Promise<{ socket: Socket; peer: Socket }> {
  server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const peer = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  const [socket] = await accepted;
  return { socket, peer };
}

afterEach(() => {
  server?.close();
});

describe('readLine', () => {
  it('reads a line split across packets and hands back what followed it', async () => {
    const { socket, peer } = await pair();
    const line = readLine(socket, 1024, 5000);
    peer.write('{"v":1,');
    await new Promise((r) => setImmediate(r));
    peer.write('"service":"pg"}\nfirst bytes');
    const r = await line;
    expect(r).toMatchObject({ kind: 'line', line: '{"v":1,"service":"pg"}' });
    expect(r.kind === 'line' && r.rest.toString()).toBe('first bytes');
    peer.destroy();
    socket.destroy();
  });

  it('gives up on a line longer than the limit without buffering it', async () => {
    const { socket, peer } = await pair();
    const line = readLine(socket, 1024, 5000);
    peer.write('x'.repeat(5000));
    expect(await line).toEqual({ kind: 'too-long' });
    peer.destroy();
    socket.destroy();
  });

  it('gives up at its deadline on a peer that never finishes the line', async () => {
    const { socket, peer } = await pair();
    peer.write('{"v":1');
    expect(await readLine(socket, 1024, 50)).toEqual({ kind: 'timeout' });
    peer.destroy();
    socket.destroy();
  });

  it('reports a peer that closes first', async () => {
    const { socket, peer } = await pair();
    peer.end('partial');
    expect(await readLine(socket, 1024, 5000)).toEqual({ kind: 'closed' });
    socket.destroy();
  });
});
