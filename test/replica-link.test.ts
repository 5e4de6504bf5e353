import { randomBytes } from 'node:crypto';
import type { Registration } from '@meshlet/control-plane';
import {
  type LeaderInfo,
  type PublishedTable,
  ReplicaLink,
  type ReplicaLinkHandlers,
  type SignalBatch,
} from '@meshlet/control-plane/ha/replica-link';
import { createLogger } from '@meshlet/shared';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdCluster, startEtcdCluster } from './harness/etcd.js';
import { Scratch } from './harness/mesh.js';
import { killAll } from './harness/process.js';
import { waitFor } from './harness/wait.js';

type MeshEvent = Parameters<ReplicaLinkHandlers['onEvents']>[0][number];

// Two ReplicaLinks on one real etcd member, each with its own client, as two
// control-plane replicas run them: the election, registrations shared through
// etcd, the leader's table reaching the follower, and the guards on writes
// (only the leader publishes a table; a replica that lost an agent to another
// does not overwrite the other's registration).

const scratch = new Scratch();
const clients: Etcd3[] = [];
const links: ReplicaLink[] = [];
let etcd: EtcdCluster;

/** A link and everything its handlers heard. */
interface Replica {
  id: string;
  link: ReplicaLink;
  client: Etcd3;
  roles: boolean[];
  leaders: (LeaderInfo | undefined)[];
  registrations: Registration[];
  gone: Array<[string, string]>;
  tables: PublishedTable[];
  signals: SignalBatch[];
  events: MeshEvent[][];
  cutOff: boolean[];
}

async function replica(id: string, prefix: string): Promise<Replica> {
  const client = new Etcd3({ hosts: etcd.endpoints });
  clients.push(client);
  const r: Replica = {
    id,
    link: undefined as unknown as ReplicaLink,
    client,
    roles: [],
    leaders: [],
    registrations: [],
    gone: [],
    tables: [],
    signals: [],
    events: [],
    cutOff: [],
  };
  r.link = new ReplicaLink({
    client,
    endpoints: etcd.endpoints,
    prefix,
    replicaId: id,
    advertiseUrl: `http://${id}.test:7700`,
    leaseTtlSeconds: 5,
    requestTimeoutMs: 5_000,
    log: createLogger(`replica-${id}`, 'silent'),
    handlers: {
      onRole: (leader) => r.roles.push(leader),
      onLeader: (info) => r.leaders.push(info),
      onRegistration: (reg) => r.registrations.push(reg),
      onRegistrationGone: (agentId, owner) => r.gone.push([agentId, owner]),
      onSignals: (batch) => r.signals.push(batch),
      onTable: (table) => r.tables.push(table),
      onEvents: (events) => r.events.push(events),
      onCutOff: (cutOff) => r.cutOff.push(cutOff),
    },
  });
  links.push(r.link);
  await r.link.start(() => ({}));
  return r;
}

const newPrefix = () => `/t-${randomBytes(6).toString('hex')}/`;

const registration = (
  agentId: string,
  replicaId: string,
  connectedAt: number,
  over: Partial<Registration> = {},
): Registration => ({
  replica: replicaId,
  agentId,
  instance: { service: 'orders', id: agentId, host: '10.0.0.1', port: 15006, tier: 0, weight: 1, labels: {} },
  connected: true,
  remoteAddress: '10.0.0.1',
  connectedAt,
  disconnectedAt: undefined,
  disconnectReason: undefined,
  graceful: false,
  health: 'healthy',
  healthReason: undefined,
  subscriptions: [],
  ...over,
});

/** The registration etcd holds for an agent, if any. */
async function stored(client: Etcd3, prefix: string, agentId: string): Promise<Registration | undefined> {
  const value = await client.get(`${prefix}live/agents/${agentId}`).string();
  return value === null ? undefined : (JSON.parse(value) as Registration);
}

const table = (version: number, nonce: string): PublishedTable => ({
  version,
  nonce,
  services: { orders: { endpoints: [] } },
});

beforeAll(async () => {
  etcd = await startEtcdCluster(scratch, 1);
});

afterAll(async () => {
  await Promise.allSettled(links.map((l) => l.close()));
  for (const c of clients) c.close();
  await killAll();
  scratch.remove();
});

describe('ReplicaLink on one etcd member', () => {
  it("elects one leader, shares registrations and the leader's table, and hands leadership over on close", async () => {
    const prefix = newPrefix();
    const a = await replica('A', prefix);
    await waitFor('A, alone, to lead', () => a.link.leader);
    // B starts once A's campaign is in etcd and its observer finds it there: an observer that starts before any
    // campaign can be told the wrong leader (etcd3's ElectionObserver takes the last put of its first watch batch).
    const b = await replica('B', prefix);
    const leader = a;
    const follower = b;
    expect(leader.roles).toEqual([true]);
    expect(follower.link.leader).toBe(false);
    expect(follower.roles).toEqual([]);
    await waitFor('the follower to observe the leader', () => follower.leaders.at(-1)?.replicaId === leader.id);
    expect(follower.leaders.at(-1)).toEqual({ replicaId: leader.id, url: `http://${leader.id}.test:7700` });

    // Registrations go both ways; a replica does not hear its own.
    follower.link.register(registration('f-1', follower.id, 1_000));
    leader.link.register(registration('l-1', leader.id, 1_000, { health: 'unhealthy', healthReason: 'down' }));
    await waitFor("the leader to hear the follower's agent", () =>
      leader.registrations.find((r) => r.agentId === 'f-1'),
    );
    await waitFor("the follower to hear the leader's agent", () =>
      follower.registrations.find((r) => r.agentId === 'l-1'),
    );
    expect(leader.registrations).toEqual([registration('f-1', follower.id, 1_000)]);
    expect(follower.registrations).toEqual([
      registration('l-1', leader.id, 1_000, { health: 'unhealthy', healthReason: 'down' }),
    ]);
    // An update of the same connection reaches the other replica too.
    follower.link.register(registration('f-1', follower.id, 1_000, { health: 'unhealthy' }));
    await waitFor('the update to reach the leader', () => leader.registrations.at(-1)?.health === 'unhealthy');

    // Only the leader's table is written: the follower's is fenced.
    follower.link.publishTable(table(100, 'from-follower'));
    leader.link.publishTable(table(7, 'from-leader'));
    await waitFor('the follower to adopt table 7', () => follower.tables.find((t) => t.version === 7));
    leader.link.publishTable(table(8, 'from-leader'));
    await waitFor('the follower to adopt table 8', () => follower.tables.find((t) => t.version === 8));
    expect(follower.tables).toEqual([table(7, 'from-leader'), table(8, 'from-leader')]);
    expect([...leader.tables, ...follower.tables].some((t) => t.version === 100)).toBe(false);
    expect(JSON.parse((await follower.client.get(`${prefix}live/table`).string()) ?? 'null')).toEqual(
      table(8, 'from-leader'),
    );

    // Signal batches carry the other replica's word, and each report's caller identity (its credential).
    const report = {
      type: 'observations' as const,
      windowMs: 1000,
      endpoints: [{ service: 'orders', id: 'f-1', ok: 0, failed: 9 }],
    };
    leader.link.observed('l-1', report, 'credential/c1');
    await waitFor("the follower to hear the leader's signals", () =>
      follower.signals.find((s) => s.replica === leader.id),
    );
    expect(follower.signals.every((s) => s.replica === leader.id)).toBe(true);
    await waitFor("the follower to hear the leader's agent's report, with its identity", () =>
      follower.signals.some((s) =>
        s.observations.some(
          (o) => o.agentId === 'l-1' && o.identity === 'credential/c1' && o.report.endpoints[0]?.failed === 9,
        ),
      ),
    );

    // The leader goes: the other takes over, and the leader's registrations go with its lease.
    await leader.link.close();
    await waitFor('the follower to become leader', () => follower.roles.at(-1) === true, { timeoutMs: 20_000 });
    expect(follower.link.leader).toBe(true);
    expect(follower.roles).toEqual([true]);
    await waitFor('the new leader to observe itself leading', () => follower.leaders.at(-1)?.replicaId === follower.id);
    await waitFor("the old leader's agent to be gone", () => follower.gone.find(([agentId]) => agentId === 'l-1'));
    expect(follower.gone).toEqual([['l-1', leader.id]]);
    expect(await stored(follower.client, prefix, 'l-1')).toBeUndefined();
    expect(await stored(follower.client, prefix, 'f-1')).toMatchObject({ replica: follower.id, health: 'unhealthy' });

    // The new leader's table is written.
    follower.link.publishTable(table(9, 'new-leader'));
    await waitFor(
      "the new leader's table in etcd",
      async () => JSON.parse((await follower.client.get(`${prefix}live/table`).string()) ?? 'null')?.version === 9,
    );
  });

  it('lists what is already there when a replica starts', async () => {
    const prefix = newPrefix();
    const a = await replica('A', prefix);
    a.link.register(registration('a-1', 'A', 1_000));
    await waitFor('A to lead', () => a.link.leader);
    a.link.publishTable(table(3, 'n3'));
    await waitFor('the table in etcd', async () => (await a.client.get(`${prefix}live/table`).string()) !== null);
    await waitFor('the registration in etcd', async () => (await stored(a.client, prefix, 'a-1')) !== undefined);

    const b = await replica('B', prefix);
    // start() lists before it resolves.
    expect(b.registrations).toEqual([registration('a-1', 'A', 1_000)]);
    expect(b.tables).toEqual([table(3, 'n3')]);
    await waitFor('B to observe A leading', () => b.leaders.at(-1)?.replicaId === 'A');
    expect(b.link.leader).toBe(false);
  });

  it("keeps the newer owner's registration when the old owner's update crosses it", async () => {
    const prefix = newPrefix();
    const a = await replica('A', prefix);
    const b = await replica('B', prefix);

    a.link.register(registration('x-1', 'A', 1_000));
    await waitFor('B to hear x-1 on A', () => b.registrations.find((r) => r.agentId === 'x-1' && r.replica === 'A'));
    // The agent reconnects to B while A still reports on its old connection: A's write is guarded by its own last revision.
    b.link.register(registration('x-1', 'B', 2_000));
    a.link.register(registration('x-1', 'A', 1_000, { health: 'unhealthy', healthReason: 'late report' }));
    await waitFor('A to hear x-1 on B', () => a.registrations.find((r) => r.agentId === 'x-1' && r.replica === 'B'));
    // A write queued on A after it (another agent's) shows when A's writes have gone through.
    a.link.register(registration('probe', 'A', 3_000));
    await waitFor('B to hear the probe', () => b.registrations.find((r) => r.agentId === 'probe'));
    expect(await stored(a.client, prefix, 'x-1')).toMatchObject({
      replica: 'B',
      connectedAt: 2_000,
      health: 'healthy',
    });

    // B's registration lives under B's lease: A going away does not take it along.
    await a.link.close();
    await waitFor('B to hear the probe gone with A', () => b.gone.find(([agentId]) => agentId === 'probe'));
    expect(await stored(b.client, prefix, 'x-1')).toMatchObject({ replica: 'B', connectedAt: 2_000 });
    expect(b.gone.filter(([agentId]) => agentId === 'x-1')).toEqual([]);
  });

  it("does not let a replica that lost an agent to another overwrite the other's registration", async () => {
    const prefix = newPrefix();
    const a = await replica('A', prefix);
    const b = await replica('B', prefix);

    a.link.register(registration('x-1', 'A', 1_000));
    await waitFor('B to hear x-1 on A', () => b.registrations.find((r) => r.agentId === 'x-1' && r.replica === 'A'));
    // The agent reconnects to B.
    b.link.register(registration('x-1', 'B', 2_000));
    await waitFor('A to hear x-1 on B', () => a.registrations.find((r) => r.agentId === 'x-1' && r.replica === 'B'));
    expect(await stored(a.client, prefix, 'x-1')).toMatchObject({ replica: 'B', connectedAt: 2_000 });

    // A, late, saw its old stream close.
    a.link.register(
      registration('x-1', 'A', 1_000, {
        connected: false,
        disconnectedAt: 2_100,
        disconnectReason: 'its stream closed',
      }),
    );
    // A write queued after it on A (another agent's) shows when A's writes have gone through.
    a.link.register(registration('probe-2', 'A', 3_000));
    await waitFor('B to hear the probe', () => b.registrations.find((r) => r.agentId === 'probe-2'));
    expect(await stored(a.client, prefix, 'x-1')).toMatchObject({ replica: 'B', connectedAt: 2_000, connected: true });
    expect(b.registrations.filter((r) => r.agentId === 'x-1').map((r) => r.replica)).toEqual(['A']);

    // Closing A waits for every write it still had queued.
    await a.link.close();
    expect(await stored(b.client, prefix, 'x-1')).toMatchObject({ replica: 'B', connectedAt: 2_000, connected: true });
  });

  it('tells every replica the replica that was elected, when they start together', async () => {
    for (let round = 0; round < 8; round++) {
      const prefix = newPrefix();
      const [a, b] = await Promise.all([replica('A', prefix), replica('B', prefix)]);
      const leader = await waitFor('one replica to lead', () => (a.link.leader ? a : b.link.leader ? b : undefined));
      const told = async (r: Replica) => {
        await waitFor(`${r.id} to hear of ${leader.id} leading`, () => r.leaders.at(-1)?.replicaId === leader.id);
        return r.leaders.at(-1)?.replicaId;
      };
      expect({ round, a: await told(a), b: await told(b) }).toEqual({ round, a: leader.id, b: leader.id });
      await Promise.all([a.link.close(), b.link.close()]);
    }
  });
});
