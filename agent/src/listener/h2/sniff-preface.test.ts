import { createServer, type Socket, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { H2_PREFACE, sniffPreface, type WireProtocol } from './sniff-preface.js';

// Real sockets on loopback: the first bytes, however they are split, pick the protocol and are all read again after.

const servers: Array<ReturnType<typeof createServer>> = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** Sends `chunks` one write (and one tick) at a time; resolves with the protocol chosen and every byte read after it. */
async function sniff(
  chunks: Buffer[],
  timeoutMs = 2000,
): Promise<{ protocol: WireProtocol | 'closed'; bytes: Buffer }> {
  let accepted: (s: Socket) => void = () => undefined;
  const got = new Promise<Socket>((r) => (accepted = r));
  const server = createServer((s) => accepted(s));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  const socket = await got;
  const result = new Promise<{ protocol: WireProtocol | 'closed'; bytes: Buffer }>((resolve) => {
    socket.once('close', () => resolve({ protocol: 'closed', bytes: Buffer.alloc(0) }));
    sniffPreface(socket, timeoutMs, (protocol) => {
      const bytes: Buffer[] = [];
      socket.on('data', (d: Buffer) => bytes.push(d));
      socket.once('end', () => resolve({ protocol, bytes: Buffer.concat(bytes) }));
    });
  });
  for (const c of chunks) {
    client.write(c);
    await new Promise((r) => setTimeout(r, 5));
  }
  client.end();
  return result;
}

describe('sniffPreface', () => {
  it('tells HTTP/2 by its whole preface, even one byte at a time, and keeps every byte', async () => {
    const all = Buffer.concat([H2_PREFACE, Buffer.from('frames')]);
    const bytewise = [...all].map((b) => Buffer.from([b]));
    const r = await sniff(bytewise);
    expect(r.protocol).toBe('h2');
    expect(r.bytes.toString('latin1')).toBe(all.toString('latin1'));
  });

  it('tells HTTP/1.1 at the first byte that differs, keeping the bytes read', async () => {
    const r = await sniff([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
    expect(r).toMatchObject({ protocol: 'http1' });
    expect(r.bytes.toString()).toBe('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  });

  it('a request that starts like the preface (PRI as a method) and then differs is HTTP/1.1', async () => {
    const r = await sniff([Buffer.from('PRI * HTTP/2.0\r\n'), Buffer.from('Host: x\r\n\r\n')]);
    expect(r.protocol).toBe('http1');
    expect(r.bytes.toString()).toBe('PRI * HTTP/2.0\r\nHost: x\r\n\r\n');
  });

  it('closes a caller that sends part of the preface and then nothing, at the timeout (slowloris before any parser)', async () => {
    let accepted: (s: Socket) => void = () => undefined;
    const got = new Promise<Socket>((r) => (accepted = r));
    const server = createServer((s) => accepted(s));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
    client.on('error', () => undefined);
    client.write(H2_PREFACE.subarray(0, 5));
    const socket = await got;
    let decided = false;
    sniffPreface(socket, 100, () => (decided = true));
    await new Promise<void>((r) => socket.once('close', () => r()));
    expect(decided).toBe(false);
    client.destroy();
  });
});
