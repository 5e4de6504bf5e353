import type { FastifyInstance } from 'fastify';
import { FAILOVER_ELECTION } from '@meshlet/shared';
import { afterEach, describe, expect, it } from 'vitest';
import type { CoordStandIn } from '../coordination/test-support/coord-stand-in.js';
import { startCoordAdmin } from '../coordination/test-support/coord-admin.js';

// The app's coordination API on a real admin listener, the control plane played by the in-process stand-in.

let standIn: CoordStandIn;
let app: FastifyInstance;
afterEach(async () => {
  await app.close();
  standIn.close();
});

describe('reserved coordination names (meshlet.*)', () => {
  it('attack: an app on a database host seizing the failover election through its agent is refused 400, nothing sent', async () => {
    let port: number;
    ({ standIn, app, port } = await startCoordAdmin());
    const base = `http://127.0.0.1:${port}/v1/elections/${FAILOVER_ELECTION}`;
    const json = { 'content-type': 'application/json' };
    const answers = [
      await fetch(`${base}/campaign`, { method: 'POST', headers: json, body: JSON.stringify({ waitMs: 0 }) }),
      await fetch(base, { method: 'PUT', headers: json, body: JSON.stringify({ term: 1 }) }),
      await fetch(`${base}?term=1`, { method: 'DELETE', headers: { 'x-meshlet-request': '1' } }),
      await fetch(`http://127.0.0.1:${port}/v1/locks/${FAILOVER_ELECTION}`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ waitMs: 0 }),
      }),
    ];
    for (const r of answers) {
      expect(r.status).toBe(400);
      const body = (await r.json()) as { error: { code: string; message: string; field: string } };
      expect(body.error).toMatchObject({ code: 'MESHLET_BAD_REQUEST', field: 'name' });
      expect(body.error.message).toMatch(/reserved/);
    }
    expect(standIn.received.filter((m) => m.name === FAILOVER_ELECTION)).toEqual([]);
  });

  it('names that merely contain "meshlet" are the app\'s own', async () => {
    let port: number;
    ({ standIn, app, port } = await startCoordAdmin());
    const r = await fetch(`http://127.0.0.1:${port}/v1/elections/my-meshlet.failover`, {
      headers: { 'x-meshlet-request': '1' },
    });
    expect(r.status).toBe(200);
  });
});
