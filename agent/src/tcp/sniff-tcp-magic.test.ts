import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { sniffTcpMagic } from './sniff-tcp-magic.js';

/** Sends `bytes` (in two writes) to a server that sniffs; resolves with the decision and the bytes left to read. */
async function sniffed(first: string, second: string): Promise<{ tcp: boolean; left: string }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const peer = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  const [socket] = await accepted;
  const decided = new Promise<boolean>((resolve) => sniffTcpMagic(socket, 5000, resolve));
  peer.write(first);
  await new Promise((r) => setImmediate(r));
  peer.write(second);
  const tcp = await decided;
  // Every byte sent comes back out of the socket, the sniffed ones first.
  const total = first.length + second.length;
  let left = '';
  await new Promise<void>((resolve) =>
    socket.on('data', (c: Buffer) => {
      left += c.toString();
      if (left.length >= total) resolve();
    }),
  );
  peer.destroy();
  socket.destroy();
  server.close();
  return { tcp, left };
}

describe('sniffTcpMagic', () => {
  it('tells the TCP magic line, split across packets, and puts every byte back', async () => {
    expect(await sniffed('MESHLET-', 'TCP/1\n{"v":1}\n')).toEqual({ tcp: true, left: 'MESHLET-TCP/1\n{"v":1}\n' });
  });

  it('leaves HTTP methods that share its first byte to HTTP, byte for byte', async () => {
    expect(await sniffed('M', 'OVE /a HTTP/1.1\r\n\r\n')).toEqual({ tcp: false, left: 'MOVE /a HTTP/1.1\r\n\r\n' });
    expect(await sniffed('MESHLET-TCP/2', '\n')).toMatchObject({ tcp: false });
  });
});
