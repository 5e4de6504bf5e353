import { ControlPlaneConfig, createLogger, loadConfig, type ServiceRoutes } from '@meshlet/shared';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MeshEvent } from '../events/event-log.js';
import type { EtcdStore } from '../store/etcd-store.js';
import { EtcdReplication } from './etcd-replication.js';
import type { ReplicaLinkHandlers, ReplicaLinkOptions } from './replica-link.js';
import type { ReplicatedParts } from './replication.js';

// EtcdReplication without etcd: the ReplicaLink it makes on start() is
// replaced by a stand-in that keeps its options, so a test calls the
// handlers as the link would (a role, a leader, a table, events, a cut-off)
// and sees what reaches the parts. The link itself, against a real etcd, is
// tested in test/replica-link.test.ts and the ha-*.test.ts end-to-end files.

const { FakeLink } = vi.hoisted(() => {
  /** Stands in for ReplicaLink: keeps what it was made with, leads when told, joins nobody. */
  class FakeLink {
    static made: FakeLink[] = [];
    leader = false;
    readonly events: MeshEvent[][] = [];
    constructor(readonly options: ReplicaLinkOptions) {
      FakeLink.made.push(this);
    }
    async start(): Promise<void> {}
    register(): void {}
    unregister(): void {}
    observed(): void {}
    publishTable(): void {}
    publishEvents(events: MeshEvent[]): void {
      this.events.push(events);
    }
    inTouch(): boolean {
      return true;
    }
    async close(): Promise<void> {}
  }
  return { FakeLink };
});
vi.mock('./replica-link.js', () => ({ ReplicaLink: FakeLink }));

/** The parts replication feeds, as spies; the pusher holds version 5 of the leader's. */
function fakeParts() {
  return {
    registry: { agents: () => [] },
    pusher: { version: 5, nonce: 'leader-5', setBuilding: vi.fn(), takeTable: vi.fn(() => true) },
    rings: { setRing: vi.fn() },
    failover: { setActive: vi.fn() },
    events: { insert: vi.fn((_e: MeshEvent) => true), list: vi.fn((): MeshEvent[] => []) },
    metrics: { leader: { set: vi.fn() } },
    health: {},
    stats: {},
    shedAgents: vi.fn(),
    closeReplaced: vi.fn(),
  };
}

const config: ControlPlaneConfig = loadConfig(ControlPlaneConfig, {
  argv: ['--store.kind', 'etcd', '--store.etcd.replicaId', 'cp-1'],
  env: {},
}).config;

const store = { client: {}, prefix: '/meshlet/', requestTimeoutMs: 3000 } as unknown as EtcdStore;

const event = (seq: number): MeshEvent => ({
  seq,
  time: 1_000 + seq,
  kind: 'drain',
  service: 'db',
  from: 'healthy',
  to: 'draining',
  reason: 'test',
  evidence: {},
});

describe('EtcdReplication', () => {
  let now: number;
  let parts: ReturnType<typeof fakeParts>;
  let replication: EtcdReplication;

  beforeEach(() => {
    FakeLink.made = [];
    now = 1_000;
    parts = fakeParts();
    replication = new EtcdReplication({ store, config, log: createLogger('test', 'silent'), clock: () => now });
    replication.attach(parts as unknown as ReplicatedParts);
  });
  afterEach(async () => {
    await replication.close();
    vi.useRealTimers();
  });

  /** Starts the replication on `port`; the stand-in link and the handlers it was given. */
  async function started(port = 15010): Promise<{ link: InstanceType<typeof FakeLink>; h: ReplicaLinkHandlers }> {
    await replication.start(port);
    const link = FakeLink.made.at(-1);
    if (!link) throw new Error('start() made no link');
    return { link, h: link.options.handlers };
  }

  /** Makes the stand-in link lead, and tells the replication so, as the election would. */
  function lead(link: InstanceType<typeof FakeLink>, h: ReplicaLinkHandlers): void {
    link.leader = true;
    h.onRole(true);
  }

  it('follows from attach on: the pusher makes no version of its own before the replica has joined', () => {
    expect(parts.pusher.setBuilding).toHaveBeenCalledWith(false);
    expect(replication.leading).toBe(false);
    expect(replication.following()).toEqual({ leader: undefined });
    expect(replication.refusal()).toBeUndefined();
    expect(replication.view()).toMatchObject({ role: 'follower', leader: null, since: 1_000, store: 'etcd' });
  });

  it('joins under the configured replica id, advertising the listen address', async () => {
    now = 2_000;
    const { link } = await started(15011);
    expect(link.options).toMatchObject({
      replicaId: 'cp-1',
      advertiseUrl: 'http://127.0.0.1:15011',
      prefix: '/meshlet/',
    });
    expect(replication.view()).toEqual({
      replicaId: 'cp-1',
      role: 'follower',
      leader: null,
      since: 2_000,
      store: 'etcd',
    });
  });

  it('follows the leader it hears of, and leads once elected: the pusher builds, the gauge says so', async () => {
    const { link, h } = await started();
    h.onLeader({ replicaId: 'cp-2', url: 'http://10.0.0.2:15010' });
    expect(replication.following()).toEqual({ leader: { replicaId: 'cp-2', url: 'http://10.0.0.2:15010' } });
    expect(replication.view().leader).toEqual({ replicaId: 'cp-2', url: 'http://10.0.0.2:15010' });

    now = 3_000;
    lead(link, h);
    expect(parts.pusher.setBuilding).toHaveBeenLastCalledWith(true);
    expect(parts.metrics.leader.set).toHaveBeenLastCalledWith(1);
    expect(replication.leading).toBe(true);
    expect(replication.following()).toBeUndefined();
    expect(replication.view()).toEqual({
      replicaId: 'cp-1',
      role: 'leader',
      leader: { replicaId: 'cp-1', url: 'http://127.0.0.1:15010' },
      since: 3_000,
      store: 'etcd',
    });

    link.leader = false;
    h.onRole(false);
    expect(parts.pusher.setBuilding).toHaveBeenLastCalledWith(false);
    expect(parts.metrics.leader.set).toHaveBeenLastCalledWith(0);
  });

  it("hands a follower the leader's newer table, its rings and its active tiers", async () => {
    const { h } = await started();
    const services: Record<string, ServiceRoutes> = {
      db: { endpoints: [{ id: 'db-1', host: '127.0.0.1', port: 1, tier: 1, weight: 1, labels: {} }], activeTier: 1 },
      web: { endpoints: [] },
    };
    const table = { version: 6, nonce: 'leader-6', services };
    h.onTable(table, false);
    expect(parts.rings.setRing.mock.calls).toEqual([
      ['db', services.db],
      ['web', services.web],
    ]);
    // Only a service whose table names its active tier moves the failover engine.
    expect(parts.failover.setActive.mock.calls).toEqual([['db', [{ tier: 1, healthy: 1, total: 1 }], 1]]);
    expect(parts.pusher.takeTable).toHaveBeenCalledWith(table, false);
  });

  it('passes over, rings and tiers included, a table the pusher would ignore, unless told to replace', async () => {
    const { h } = await started();
    h.onTable({ version: 4, nonce: 'leader-4', services: { db: { endpoints: [] } } }, false);
    h.onTable({ version: 5, nonce: 'leader-5', services: { db: { endpoints: [] } } }, false);
    expect(parts.rings.setRing).not.toHaveBeenCalled();
    expect(parts.pusher.takeTable).not.toHaveBeenCalled();

    // The same version made by another replica (one that led wrongly) is a different table.
    h.onTable({ version: 5, nonce: 'other-5', services: {} }, false);
    expect(parts.pusher.takeTable).toHaveBeenCalledTimes(1);
    // Just deposed: the stored table replaces what this replica made, older or not.
    const stored = { version: 4, nonce: 'leader-4', services: { db: { endpoints: [] } } };
    h.onTable(stored, true);
    expect(parts.pusher.takeTable).toHaveBeenLastCalledWith(stored, true);
    expect(parts.rings.setRing).toHaveBeenCalledWith('db', { endpoints: [] });
  });

  it('takes no table a leader is not behind on, replace or not', async () => {
    const { link, h } = await started();
    lead(link, h);
    h.onTable({ version: 5, nonce: 'other-5', services: {} }, true);
    h.onTable({ version: 3, nonce: 'leader-3', services: {} }, false);
    expect(parts.pusher.takeTable).not.toHaveBeenCalled();
    h.onTable({ version: 7, nonce: 'leader-7', services: {} }, false);
    expect(parts.pusher.takeTable).toHaveBeenCalledTimes(1);
  });

  it("inserts the leader's events in sequence order, skipping what has no sequence number, while it follows", async () => {
    const { link, h } = await started();
    const broken = [null, { ...event(9), seq: 1.5 }, { ...event(9), seq: undefined }] as unknown as MeshEvent[];
    h.onEvents([event(3), ...broken, event(1), event(2)]);
    expect(parts.events.insert.mock.calls.map(([e]) => e.seq)).toEqual([1, 2, 3]);

    lead(link, h);
    h.onEvents([event(4)]);
    expect(parts.events.insert).toHaveBeenCalledTimes(3);
  });

  it('publishes the latest decisions once per burst, and only while it leads', async () => {
    vi.useFakeTimers();
    const { link, h } = await started();
    parts.events.list.mockReturnValue([event(1)]);
    replication.decided();
    vi.advanceTimersByTime(1_000);
    expect(link.events).toEqual([]);

    lead(link, h);
    replication.decided();
    replication.decided();
    vi.advanceTimersByTime(100);
    expect(link.events).toEqual([[event(1)]]);
    expect(parts.events.list).toHaveBeenCalledWith({ limit: 100 });
  });

  it('sheds its agents and turns them away while cut off from etcd, and takes them again once back', async () => {
    const { h } = await started();
    h.onCutOff(true);
    expect(parts.shedAgents).toHaveBeenCalledWith('this control-plane replica cannot reach etcd; use another replica');
    expect(replication.refusal()).toBe('this control-plane replica cannot reach etcd; connect to another replica');
    h.onCutOff(false);
    expect(replication.refusal()).toBeUndefined();
    expect(parts.shedAgents).toHaveBeenCalledTimes(1);
  });
});
