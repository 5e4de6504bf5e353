import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { limitMessageSize } from './hello-message-limit.js';

// Pins the ws internals limitMessageSize reaches into: if a ws upgrade moves them, this fails.
describe('limitMessageSize', () => {
  let wss: WebSocketServer | undefined;
  afterEach(() => wss?.close());

  async function pair(): Promise<{ server: WebSocket; client: WebSocket }> {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1024 * 1024 });
    await once(wss, 'listening');
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
    const [server] = (await once(wss, 'connection')) as [WebSocket];
    await once(client, 'open');
    return { server, client };
  }

  it("refuses a larger message with 1009 at its header, and restores the server's limit", async () => {
    const { server, client } = await pair();
    const restore = limitMessageSize(server, 1024);
    expect(restore).toBeDefined();
    const got: number[] = [];
    server.on('message', (d: Buffer) => got.push(d.length));
    client.send(Buffer.alloc(1024));
    await once(server, 'message');
    restore?.();
    client.send(Buffer.alloc(64 * 1024));
    await once(server, 'message');
    expect(got).toEqual([1024, 64 * 1024]);
    const again = limitMessageSize(server, 1024);
    expect(again).toBeDefined();
    server.on('error', () => {});
    client.send(Buffer.alloc(1025));
    const [code] = (await once(client, 'close')) as [number];
    expect(code).toBe(1009);
  });

  it('says so when the socket has no receiver it knows', () => {
    expect(limitMessageSize({} as WebSocket, 1024)).toBeUndefined();
  });
});
