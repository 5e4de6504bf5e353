import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { Coordination } from '../coordination/coordination.js';
import type { CoordStandIn } from '../coordination/test-support/coord-stand-in.js';
import { startCoordAdmin } from '../coordination/test-support/coord-admin.js';
import { until } from '../listener/test-support/loopback.js';

// What an events stream holds (its place among the open requests, its watch,
// its heartbeat timer, its unsent data) is given back whatever the app does:
// a real admin listener on loopback, the control plane played by the stand-in.

let standIn: CoordStandIn;
let app: FastifyInstance;
let port = 0;
afterEach(async () => {
  await app.close();
  standIn.close();
});

async function start(host = '127.0.0.1', maxOpenRequests?: number): Promise<Coordination> {
  const started = await startCoordAdmin(host, maxOpenRequests);
  ({ standIn, app, port } = started);
  return started.coordination;
}

/** A GET's status. */
function status(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('events streams give back what they hold', () => {
  it('an app that hangs up while the first read of its events stream is in flight gets its place, watch and timer back', async () => {
    const coordination = await start('127.0.0.1', 1);
    const sockets: Socket[] = [];
    app.server.on('connection', (s: Socket) => sockets.push(s));
    standIn.silent = true;
    const req = httpRequest({ host: '127.0.0.1', port, path: '/v1/locks/report/events' });
    req.on('error', () => undefined);
    req.end();
    await until(() => standIn.received.some((m) => m.op === 'get'), 'the first read sent');
    req.destroy();
    await until(() => sockets.length === 1 && sockets[0]!.destroyed, 'the agent saw the app hang up');
    const get = standIn.received.find((m) => m.op === 'get')!;
    standIn.silent = false;
    coordination.onMessage({
      type: 'coordResult',
      id: get.id,
      ok: true,
      state: { kind: 'lock', service: 'orders', name: 'report', revision: 0 },
    });
    await until(() => coordination.openRequests.open === 0, 'its place given back', 2000);
    await until(() => standIn.received.some((m) => m.op === 'unwatch'), 'its watch ended');
    // The one place is usable again: a long-poll is not refused with 429.
    expect(await status('/v1/locks/report?index=0&waitMs=0')).toBe(200);
  });

  it('attack: an app opens an events stream and never reads it while the lock changes: closed once 16 MiB wait unsent', async () => {
    const coordination = await start();
    const socket = connect(port, '127.0.0.1');
    socket.pause(); // never reads
    socket.on('error', () => undefined);
    socket.write('GET /v1/locks/report/events HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
    await until(() => standIn.received.some((m) => m.op === 'get') && coordination.openRequests.open === 1, 'open');
    const label = 'x'.repeat(256);
    let revision = 1000;
    // Up to 80 MB of events, far past the bound: the loop stops by itself once the stream is closed.
    for (let i = 0; i < 200_000 && coordination.openRequests.open > 0; i++) {
      revision++;
      coordination.onMessage({
        type: 'coordEvent',
        reason: 'acquired',
        state: {
          kind: 'lock',
          service: 'orders',
          name: 'report',
          revision,
          token: revision,
          ttlMs: 15_000,
          holder: { agentId: 'b1', instanceId: 'b1-i', label },
        },
      });
      if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
    }
    await until(() => coordination.openRequests.open === 0, 'the stream closed and its place given back');
    expect(revision - 1000).toBeLessThan(200_000);
    socket.destroy();
  }, 30_000); // tens of MB of events on a shared machine
});
