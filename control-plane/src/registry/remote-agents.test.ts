import { describe, expect, it, vi } from 'vitest';
import type { AgentRecord, Registration } from './agent-record.js';
import { registrationOf } from './agent-record.js';
import { Registry } from './registry.js';
import { RemoteAgents } from './remote-agents.js';
import { hello, instance } from './test-support/agent-record.js';

// Agents connected to another control-plane replica, as their registrations
// arrive through etcd: how they enter, change and leave this replica's
// registry, and how they meet the agents connected here.

/** The registration replica `replica` publishes of agent `agentId`, connected at `connectedAt`. */
const reg = (
  agentId: string,
  replica: string,
  connectedAt: number,
  over: Partial<Registration> = {},
): Registration => ({
  replica,
  agentId,
  instance: instance(agentId),
  connected: true,
  remoteAddress: '10.0.0.9',
  connectedAt,
  disconnectedAt: undefined,
  disconnectReason: undefined,
  graceful: false,
  health: 'healthy',
  healthReason: undefined,
  subscriptions: ['billing'],
  ...over,
});

function setup(knownServices: string[] = []) {
  const clock = { now: 1_000 };
  const onChange = vi.fn<(r: AgentRecord) => void>();
  const onForget = vi.fn<(r: AgentRecord) => void>();
  const onNewService = vi.fn<(names: string[]) => void>();
  const registry = new Registry({ clock: () => clock.now, onChange, onForget, onNewService, knownServices });
  const remotes = new RemoteAgents(registry, { clock: () => clock.now });
  const only = () => {
    const agents = registry.agents();
    expect(agents).toHaveLength(1);
    return agents[0] as AgentRecord;
  };
  return { clock, onChange, onForget, onNewService, registry, remotes, only };
}

describe("RemoteAgents: registrations of another replica's agents", () => {
  it('creates a record marked with the replica, not orphaned, and tells onChange', () => {
    const { registry, remotes, onChange, only } = setup();
    remotes.apply(reg('o-1', 'B', 500, { health: 'unhealthy', healthReason: 'down' }));
    const r = only();
    expect(r).toEqual({
      agentId: 'o-1',
      instance: instance('o-1'),
      connected: true,
      remoteAddress: '10.0.0.9',
      connectedAt: 500,
      disconnectedAt: undefined,
      disconnectReason: undefined,
      graceful: false,
      lastSeenAt: 1_000,
      health: 'unhealthy',
      healthReason: 'down',
      sent: undefined,
      acked: undefined,
      nacked: undefined,
      rings: {},
      subscriptions: ['billing'],
      replica: { id: 'B', orphaned: false },
    });
    expect(registry.current(r)).toBe(true);
    expect(onChange).toHaveBeenCalledTimes(1);
    expect(onChange).toHaveBeenCalledWith(r);
  });

  it('changes the record in place for the same replica and connection, telling onChange only when connection or health changed', () => {
    const { remotes, clock, onChange, onForget, only } = setup();
    remotes.apply(reg('o-1', 'B', 500));
    const r = only();
    onChange.mockClear();

    clock.now = 1_500;
    remotes.apply(reg('o-1', 'B', 500, { healthReason: 'still fine', subscriptions: ['billing', 'users'] }));
    expect(only()).toBe(r);
    expect(r.subscriptions).toEqual(['billing', 'users']);
    expect(r.healthReason).toBe('still fine');
    expect(r.lastSeenAt).toBe(1_500);
    expect(onChange).not.toHaveBeenCalled();

    remotes.apply(reg('o-1', 'B', 500, { health: 'unhealthy', healthReason: '503' }));
    expect(only()).toBe(r);
    expect(r.health).toBe('unhealthy');
    expect(onChange).toHaveBeenCalledTimes(1);
    expect(onChange).toHaveBeenLastCalledWith(r);

    clock.now = 2_000;
    remotes.apply(
      reg('o-1', 'B', 500, {
        health: 'unhealthy',
        connected: false,
        disconnectedAt: 1_900,
        disconnectReason: 'its stream closed',
        graceful: true,
      }),
    );
    expect(only()).toBe(r);
    expect(r).toMatchObject({
      connected: false,
      disconnectedAt: 1_900,
      disconnectReason: 'its stream closed',
      graceful: true,
    });
    // A disconnected agent's registration does not make it seen.
    expect(r.lastSeenAt).toBe(1_500);
    expect(onChange).toHaveBeenCalledTimes(2);
    expect(onForget).not.toHaveBeenCalled();
  });

  it('replaces the record with a newer connection from another replica, forgetting the old instance only when it differs', () => {
    const { registry, remotes, onChange, onForget, only } = setup();
    remotes.apply(reg('o-1', 'B', 500));
    const fromB = only();

    remotes.apply(reg('o-1', 'C', 900));
    const fromC = only();
    expect(fromC).not.toBe(fromB);
    expect(fromC).toMatchObject({ connectedAt: 900, replica: { id: 'C', orphaned: false } });
    expect(registry.current(fromB)).toBe(false);
    expect(onForget).not.toHaveBeenCalled();
    expect(onChange).toHaveBeenLastCalledWith(fromC);

    // The agent now fronts another instance: the old one is gone for good.
    remotes.apply(reg('o-1', 'D', 1_200, { instance: instance('o-9') }));
    expect(only()).toMatchObject({ instance: { id: 'o-9' }, replica: { id: 'D' } });
    expect(onForget).toHaveBeenCalledTimes(1);
    expect(onForget).toHaveBeenCalledWith(fromC);
  });

  it('ignores a remote registration older than the connection held here, and yields to a newer one', () => {
    const { registry, remotes, clock, onChange, only } = setup();
    clock.now = 1_000;
    const local = registry.connect(hello('o-1', instance('o-1')), '10.0.0.1');
    onChange.mockClear();

    // The replica the agent left publishes that it saw it go: older than the connection here.
    remotes.apply(
      reg('o-1', 'B', 900, { connected: false, disconnectedAt: 1_100, disconnectReason: 'its stream closed' }),
    );
    expect(only()).toBe(local);
    expect(local.replica).toBeUndefined();
    expect(local.connected).toBe(true);
    expect(onChange).not.toHaveBeenCalled();

    // The agent moved on to B later: B's newer connection wins.
    remotes.apply(reg('o-1', 'B', 1_100));
    const remote = only();
    expect(remote).not.toBe(local);
    expect(remote.replica).toEqual({ id: 'B', orphaned: false });
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it('does nothing when a record that was replaced is disconnected', () => {
    const { registry, remotes, clock, onChange, only } = setup();
    const local = registry.connect(hello('o-1', instance('o-1')), '10.0.0.1');
    registry.health(local, 'healthy', undefined);
    clock.now = 2_000;
    remotes.apply(reg('o-1', 'B', 1_500));
    const remote = only();
    onChange.mockClear();

    // The old stream closes only now.
    registry.disconnect(local, 'its stream closed');
    expect(registry.current(local)).toBe(false);
    expect(local.connected).toBe(true);
    expect(local.disconnectedAt).toBeUndefined();
    expect(onChange).not.toHaveBeenCalled();
    expect(only()).toBe(remote);
    expect(remote.connected).toBe(true);
    expect(registry.routingServices().orders?.endpoints.map((e) => [e.id, e.health ?? 'healthy'])).toEqual([
      ['o-1', 'healthy'],
    ]);

    // The current record still disconnects as before.
    registry.disconnect(remote, 'heartbeat timeout');
    expect(remote.connected).toBe(false);
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it("takes lastSeenAt from what the agent's replica last said, only for that replica's connected record", () => {
    const { registry, remotes, clock, only } = setup();
    clock.now = 1_000;
    remotes.apply(reg('o-1', 'B', 500));
    const r = only();
    expect(r.lastSeenAt).toBe(1_000);

    clock.now = 5_000;
    remotes.seen('o-1', 'B', 300);
    expect(r.lastSeenAt).toBe(4_700);
    expect(r.replica).toEqual({ id: 'B', orphaned: false, silentMs: 300 });
    // The replica's word rules, also when it heard from the agent longer ago than this replica assumed.
    remotes.seen('o-1', 'B', 2_000);
    expect(r.lastSeenAt).toBe(3_000);
    remotes.seen('o-1', 'C', 0);
    expect(r.lastSeenAt).toBe(3_000);
    remotes.seen('nobody', 'B', 0);
    expect(registry.agents()).toHaveLength(1);

    // Not for an agent of this replica, nor for a remote agent that is disconnected.
    const local = registry.connect(hello('l-1', instance('l-1')), '10.0.0.1');
    remotes.seen('l-1', 'B', 0);
    expect(local.lastSeenAt).toBe(5_000);
    remotes.apply(reg('d-1', 'B', 500, { connected: false, disconnectedAt: 900 }));
    const gone = registry.agents().find((a) => a.agentId === 'd-1') as AgentRecord;
    clock.now = 6_000;
    remotes.seen('d-1', 'B', 0);
    expect(gone.lastSeenAt).toBe(5_000);
  });

  it("keeps remote agents up to date with their replica's last word between batches, except orphaned ones", () => {
    const { registry, remotes, clock } = setup();
    remotes.apply(reg('o-1', 'B', 500));
    remotes.apply(reg('o-2', 'B', 500));
    const local = registry.connect(hello('l-1', instance('l-1')), '10.0.0.1');
    const [o1, o2] = ['o-1', 'o-2'].map((id) => registry.agents().find((a) => a.agentId === id) as AgentRecord) as [
      AgentRecord,
      AgentRecord,
    ];
    remotes.seen('o-1', 'B', 200);
    remotes.seen('o-2', 'B', 200);
    remotes.remove('o-2', 'B');

    clock.now = 9_000;
    remotes.refresh(false);
    expect(o1.lastSeenAt).toBe(8_800);
    expect(o2.lastSeenAt).toBe(800);
    expect(local.lastSeenAt).toBe(1_000);
    expect(
      registry
        .silentAgents(1_000)
        .map((a) => a.agentId)
        .sort(),
    ).toEqual(['l-1', 'o-2']);

    // Cut off from etcd: every connected remote agent counts as seen now, orphaned or not.
    remotes.refresh(true);
    expect(o1.lastSeenAt).toBe(9_000);
    expect(o2.lastSeenAt).toBe(9_000);
    expect(local.lastSeenAt).toBe(1_000);
  });

  it('marks an agent whose registration vanished orphaned but connected, until a registration comes again', () => {
    const { registry, remotes, onChange, only } = setup();
    remotes.apply(reg('o-1', 'B', 500));
    const r = only();
    onChange.mockClear();

    // Another replica's word does not orphan it.
    remotes.remove('o-1', 'C');
    expect(r.replica).toEqual({ id: 'B', orphaned: false });

    remotes.remove('o-1', 'B');
    expect(only()).toBe(r);
    expect(r.replica).toEqual({ id: 'B', orphaned: true });
    expect(r.connected).toBe(true);
    expect(registry.routingServices().orders?.endpoints.map((e) => e.id)).toEqual(['o-1']);

    // B writes it again (a new lease): same connection, no longer orphaned, and that is a change.
    remotes.apply(reg('o-1', 'B', 500));
    expect(only()).toBe(r);
    expect(r.replica).toEqual({ id: 'B', orphaned: false });
    expect(onChange).toHaveBeenCalledTimes(1);

    // Orphaned again, then the agent reconnects to C.
    remotes.remove('o-1', 'B');
    remotes.apply(reg('o-1', 'C', 800));
    expect(only().replica).toEqual({ id: 'C', orphaned: false });
  });

  it('lists an orphaned remote agent as silent once the heartbeat timeout has passed', () => {
    const { registry, remotes, clock, only } = setup();
    clock.now = 1_000;
    remotes.apply(reg('o-1', 'B', 500));
    const r = only();
    clock.now = 3_000;
    remotes.seen('o-1', 'B', 0);
    expect(registry.silentAgents(1_000)).toEqual([]);

    remotes.remove('o-1', 'B');
    clock.now = 4_000;
    remotes.refresh(false);
    expect(registry.silentAgents(1_000)).toEqual([]);
    // B's word no longer comes; nothing moves its lastSeenAt.
    clock.now = 4_001;
    remotes.refresh(false);
    expect(registry.silentAgents(1_000)).toEqual([r]);
  });

  it('reports the new service names of a remote registration', () => {
    const { registry, remotes, onNewService } = setup(['orders']);
    remotes.apply(reg('o-1', 'B', 500));
    expect(onNewService).not.toHaveBeenCalled();
    remotes.apply(reg('p-1', 'B', 500, { instance: instance('p-1', 'payments') }));
    expect(onNewService).toHaveBeenCalledTimes(1);
    expect(onNewService).toHaveBeenCalledWith(['orders', 'payments']);
    expect(registry.serviceNames()).toEqual(['orders', 'payments']);
  });

  it('routes to remote instances alongside local ones, by their published health', () => {
    const { registry, remotes } = setup();
    const local = registry.connect(hello('o-1', instance('o-1')), '10.0.0.1');
    registry.health(local, 'healthy', undefined);
    remotes.apply(reg('o-2', 'B', 500, { instance: instance('o-2', 'orders', { zone: 'z2' }) }));
    remotes.apply(reg('o-3', 'C', 500, { instance: instance('o-3'), health: 'unhealthy' }));
    remotes.apply(reg('o-4', 'C', 500, { instance: instance('o-4'), health: 'unknown' }));
    remotes.apply(
      reg('o-5', 'C', 500, { instance: instance('o-5'), connected: false, graceful: true, disconnectedAt: 900 }),
    );
    remotes.apply(reg('client', 'B', 500, { instance: undefined }));
    expect(registry.routingServices()).toEqual({
      orders: {
        endpoints: [
          { id: 'o-1', host: 'o-1.local', port: 15006, tier: 0, weight: 1, labels: {} },
          { id: 'o-2', host: 'o-2.local', port: 15006, tier: 0, weight: 1, labels: {}, zone: 'z2' },
          { id: 'o-3', host: 'o-3.local', port: 15006, tier: 0, weight: 1, labels: {}, health: 'unhealthy' },
        ],
      },
    });
  });

  it('round-trips a local record through its registration on another replica', () => {
    const here = setup();
    const local = here.registry.connect(
      { ...hello('o-1', instance('o-1')), upstreams: ['users', 'billing'] },
      '10.0.0.1',
    );
    here.registry.health(local, 'healthy', undefined);
    const there = setup();
    there.remotes.apply(registrationOf('A', local));
    const r = there.only();
    expect(r).toMatchObject({
      agentId: 'o-1',
      instance: local.instance,
      connectedAt: local.connectedAt,
      health: 'healthy',
      subscriptions: ['billing', 'users'],
      replica: { id: 'A', orphaned: false },
    });
    expect(there.registry.routingServices()).toEqual(here.registry.routingServices());
  });
});
