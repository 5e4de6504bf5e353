import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { TcpHealthCheck } from './tcp-health-check.js';

describe('TcpHealthCheck', () => {
  it('passes while a real listener accepts, fails once it is gone', async () => {
    let accepted = 0;
    const server = createServer((s) => {
      accepted++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const check = new TcpHealthCheck({ host: '127.0.0.1', port }, 1_000);
    expect(await check.probe()).toEqual({ ok: true, detail: `TCP connect to 127.0.0.1:${port} succeeded` });
    await new Promise<void>((r) => server.close(() => r()));
    expect(accepted).toBe(1);
    expect(await check.probe()).toEqual({ ok: false, detail: `TCP connect to 127.0.0.1:${port} failed: ECONNREFUSED` });
  });
});
