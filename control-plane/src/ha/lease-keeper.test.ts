import { createLogger } from '@meshlet/shared';
import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { LeaseKeeper } from './lease-keeper.js';
import { LinkContext } from './link-context.js';

const TTL_MS = 5_000;
const flush = () => new Promise((resolve) => setImmediate(resolve));

const ENDPOINTS = ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'];

/** A lease keeper on a fake clock whose probe asks `reachable` about each etcd member; etcd itself is never called. */
function keeper(reachable: (endpoint: string) => Promise<boolean>) {
  const t = { now: 1_700_000_000_000, cutOff: [] as boolean[], probes: 0 };
  const ctx = new LinkContext({
    client: {} as Etcd3,
    prefix: '/t/',
    replicaId: 'A',
    requestTimeoutMs: 1_000,
    log: createLogger('test', 'silent'),
    clock: () => t.now,
  });
  const lease = new LeaseKeeper({
    ctx,
    leaseTtlSeconds: TTL_MS / 1000,
    endpoints: ENDPOINTS,
    onLease: () => undefined,
    onLost: () => undefined,
    onCutOff: (cutOff) => t.cutOff.push(cutOff),
    probe: (endpoint) => {
      t.probes++;
      return reachable(endpoint);
    },
  });
  lease.restartSilence();
  return { t, ctx, lease };
}

const none = async () => false;

describe('LeaseKeeper', () => {
  it("counts etcd's silence on its clock", () => {
    const { t, lease } = keeper(none);
    t.now += 1_234;
    expect(lease.silentMs()).toBe(1_234);
    expect(lease.silentForTtl()).toBe(false);
    t.now += TTL_MS;
    expect(lease.silentForTtl()).toBe(true);
  });

  it('probes no etcd member while etcd answered within a whole TTL', async () => {
    const { t, lease } = keeper(none);
    t.now += TTL_MS;
    lease.checkCutOff();
    await flush();
    expect(t.probes).toBe(0);
    expect(t.cutOff).toEqual([]);
  });

  it('says this replica is cut off once etcd was silent for more than a TTL and no member answers, once', async () => {
    const { t, lease } = keeper(none);
    t.now += TTL_MS + 1;
    lease.checkCutOff();
    await flush();
    expect(t.probes).toBe(2);
    expect(t.cutOff).toEqual([true]);
    t.now += 1_000;
    lease.checkCutOff();
    await flush();
    expect(t.probes).toBe(2);
    expect(t.cutOff).toEqual([true]);
  });

  it('keeps its agents when a member still answers (etcd lost its quorum, not this replica its reach)', async () => {
    const { t, lease } = keeper(async (endpoint) => endpoint === ENDPOINTS[1]);
    t.now += TTL_MS + 1;
    lease.checkCutOff();
    await flush();
    expect(t.probes).toBe(2);
    expect(t.cutOff).toEqual([]);
  });

  it('says etcd is reachable again once it answers again', async () => {
    const { t, lease } = keeper(none);
    t.now += TTL_MS + 1;
    lease.checkCutOff();
    await flush();
    lease.restartSilence();
    lease.checkCutOff();
    lease.checkCutOff();
    expect(t.cutOff).toEqual([true, false]);
  });

  it('probes once at a time, and says nothing once the link has closed', async () => {
    let answer: (reachable: boolean) => void = () => undefined;
    const pending = new Promise<boolean>((resolve) => (answer = resolve));
    const { t, ctx, lease } = keeper(() => pending);
    t.now += TTL_MS + 1;
    lease.checkCutOff();
    lease.checkCutOff();
    await flush();
    expect(t.probes).toBe(2);
    ctx.close();
    answer(false);
    await flush();
    expect(t.cutOff).toEqual([]);
  });
});
