import { request as httpSend } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, api } from '../harness/admin-api.js';
import { httpRequest } from '../harness/http.js';
import { type AgentHandle, type AppHandle, type ControlPlaneHandle, withMesh } from '../harness/mesh.js';
import { waitFor } from '../harness/wait.js';

// kv is range-sharded by the header x-key ([-inf, "h") on kv-1, ["h", +inf) on kv-2), with one request in flight at
// a time from the client's agent: the rest wait in its circuit breaker's queue. Real demo apps (each answers with its
// instance id) behind real agents. The companion of range-sharding.test.ts (which this would push over 400 lines).
const SHARDING = {
  kind: 'range',
  key: { header: 'x-key' },
  ranges: [
    { to: 'h', instance: 'kv-1' },
    { from: 'h', instance: 'kv-2' },
  ],
};

describe('a range move under load', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;
  let client: AgentHandle;
  let apps: Record<string, AppHandle>;

  const shards = async () => {
    const r = await api(cp, 'GET', '/v1/services/kv/shards');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  };
  /** Waits (deadline) until the client's agent ACKed a table at least as new as `version`. */
  const ackedBy = (version: number) =>
    waitFor(`the client agent to ACK table version ${version}`, async () => {
      const r = await api(cp, 'GET', '/v1/agents/client');
      return r.status === 200 && (r.body.ackedVersion ?? 0) >= version;
    });

  beforeAll(async () => {
    ({ cp, client, apps } = await mesh.start({
      controlPlane: {
        auth: { adminToken: ADMIN },
        services: { kv: { sharding: SHARDING, circuitBreaker: { maxConcurrent: 1, maxPending: 64 } } },
      },
      instances: { kv: ['kv-1', 'kv-2'] },
      client: { calls: ['kv'] },
    }));
    await ackedBy((await shards()).tableVersion);
  });

  it('requests queued in the circuit breaker when their range moves go to the new owner, and a load loop running through the move reaches the former owner with no request sent after the ACK', async () => {
    const s = await shards();
    const first = s.ranges[0];
    expect(first.from).toBeUndefined();
    const old: string = first.instance;
    const next = old === 'kv-1' ? 'kv-2' : 'kv-1';
    const active = async () => {
      const scrape = await httpRequest(client.adminPort, '/metrics');
      const m = /^meshlet_agent_active_requests\{service="kv"\} (\d+)$/m.exec(scrape.body);
      return Number(m?.[1] ?? 0);
    };
    const post = (key: string) =>
      httpRequest(client.outboundPort as number, 'http://kv/item', {
        method: 'POST',
        headers: { 'x-key': key, 'content-type': 'text/plain' },
        body: 'put',
        timeoutMs: 30_000,
      });
    // The old owner holds every request it gets; the first one takes the breaker's only slot, so the next ones queue.
    await apps[old]?.setFault('slow', 30_000);
    const hog = httpSend({
      host: '127.0.0.1',
      port: client.outboundPort,
      path: 'http://kv/item',
      headers: { host: 'kv', 'x-key': 'a' },
      agent: false,
    });
    hog.on('error', () => undefined);
    hog.end();
    try {
      await waitFor('the first request to hold the breaker slot', async () => (await active()) === 1);
      // Routed to the old owner, now waiting for the slot.
      const queued = [post('a'), post('b'), post('c')];
      // A bounded load loop on the moving range: each worker stops 5 requests after the ACK was seen (at most 60).
      let ackSeen = Number.POSITIVE_INFINITY;
      const records: Array<{ sent: number; status: number; instance: string | undefined }> = [];
      const worker = async (key: string) => {
        for (let i = 0, after = 0; i < 60 && after < 5; i++) {
          const sent = performance.now();
          if (sent > ackSeen) after++;
          const a = await post(key);
          records.push({ sent, status: a.status, instance: a.status === 200 ? a.json().instance : undefined });
        }
      };
      const loop = Promise.all(['a', 'd', 'f', 'g'].map(worker));
      // Awaited below; a failure before that must not leave it unhandled.
      loop.catch(() => undefined);
      await waitFor('the queued requests and the load loop to wait for the slot', async () => (await active()) >= 8);
      const r = await api(cp, 'POST', '/v1/services/kv/shards/move', {
        from: null,
        to: { instance: next },
        resourceVersion: s.resourceVersion,
      });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      await ackedBy(r.body.tableVersion as number);
      ackSeen = performance.now();
      // The old owner answers at once again, so that a request sent there shows up rather than hanging; the slot frees.
      await apps[old]?.setFault('none');
      hog.destroy();
      const answers = await Promise.all(queued);
      expect(answers.map((a) => [a.status, a.status === 200 ? a.json().instance : a.body])).toEqual([
        [200, next],
        [200, next],
        [200, next],
      ]);
      await loop;
      const afterAck = records.filter((x) => x.sent > ackSeen);
      expect(afterAck.length).toBeGreaterThanOrEqual(20);
      expect(afterAck.filter((x) => x.status !== 200 || x.instance !== next)).toEqual([]);
      // Sent before the ACK, these waited behind the held slot until after it: they reached the new owner too.
      expect(records.filter((x) => x.instance !== next)).toEqual([]);
    } finally {
      hog.destroy();
      await apps[old]?.setFault('none');
    }
  });
});
