import type { Hello } from '@meshlet/shared';
import { describe, expect, it, vi } from 'vitest';
import { Registry } from './registry.js';
import { hello, instance } from './test-support/agent-record.js';

const helloFor = (id: string, service?: string, zone?: string): Hello => ({
  type: 'hello',
  protocolVersion: 1,
  agentId: id,
  tableVersion: 0,
  ...(service
    ? {
        instance: {
          service,
          id,
          host: '127.0.0.1',
          port: 1000,
          tier: 0,
          weight: 1,
          labels: {},
          ...(zone ? { zone } : {}),
        },
      }
    : {}),
});

describe('Registry', () => {
  it('carries an instance’s mtls flag from its hello onto its endpoint, and none for a plaintext one', () => {
    const r = new Registry({ clock: () => 0, onChange: vi.fn(), onNewService: vi.fn() });
    const secure = helloFor('a-1', 'hello');
    if (secure.instance) secure.instance.mtls = true;
    r.health(r.connect(secure, '1.1.1.1'), 'healthy', undefined);
    r.health(r.connect(helloFor('b-1', 'hello'), '1.1.1.1'), 'healthy', undefined);
    const eps = r.routingServices().hello?.endpoints ?? [];
    expect(eps.map((e) => [e.id, e.mtls])).toEqual([
      ['a-1', true],
      ['b-1', undefined],
    ]);
    expect(eps[1]).not.toHaveProperty('mtls');
  });

  it('routes only to connected instances whose app is healthy', () => {
    let now = 0;
    const onChange = vi.fn();
    const onNewService = vi.fn();
    const r = new Registry({ clock: () => now, onChange, onNewService });
    const b = r.connect(helloFor('b-1', 'hello', 'z1'), '1.1.1.1');
    const a = r.connect(helloFor('a-1', 'hello'), '1.1.1.1');
    r.connect(helloFor('client'), '1.1.1.1');
    expect(onNewService).not.toHaveBeenCalled();
    expect(r.routingServices()).toEqual({ hello: { endpoints: [] } });

    r.health(b, 'healthy', undefined);
    r.health(a, 'healthy', undefined);
    expect(onNewService).toHaveBeenCalledTimes(1);
    expect(onNewService).toHaveBeenCalledWith(['hello']);
    const eps = r.routingServices().hello?.endpoints ?? [];
    expect(eps.map((e) => e.id)).toEqual(['a-1', 'b-1']);
    expect(eps[0]).not.toHaveProperty('zone');
    expect(eps[1]?.zone).toBe('z1');

    onChange.mockClear();
    r.health(a, 'healthy', undefined);
    expect(onChange).not.toHaveBeenCalled();
    r.health(a, 'unhealthy', 'GET /healthz answered 503');
    expect(onChange).toHaveBeenCalledTimes(1);
    r.disconnect(b, 'gone');
    // Unhealthy and crashed instances stay in the table, marked, so callers know each tier's size.
    expect(r.routingServices().hello?.endpoints.map((e) => [e.id, e.health])).toEqual([
      ['a-1', 'unhealthy'],
      ['b-1', 'unhealthy'],
    ]);
    r.disconnect(a, 'shutting down', true);
    expect(r.routingServices().hello?.endpoints.map((e) => e.id)).toEqual(['b-1']);

    now = 10_000;
    r.forget(5_000);
    expect(
      r
        .agents()
        .map((x) => x.agentId)
        .sort(),
    ).toEqual(['client']);
    expect(r.serviceNames()).toEqual(['hello']);
  });

  it('lists agents silent for longer than the timeout', () => {
    let now = 0;
    const r = new Registry({ clock: () => now, onChange: () => undefined, knownServices: ['orders'] });
    const x = r.connect(helloFor('x'), '');
    const y = r.connect(helloFor('y'), '');
    now = 2_000;
    r.seen(y);
    now = 3_500;
    expect(r.silentAgents(3_000)).toEqual([x]);
    expect(r.routingServices()).toEqual({ orders: { endpoints: [] } });
  });
});

// One transition per test, the callbacks each transition fires, and the
// clock-driven listings at their boundaries.

function setup(knownServices: string[] = []) {
  const clock = { now: 1_000 };
  const onChange = vi.fn();
  const onNewService = vi.fn();
  const registry = new Registry({ clock: () => clock.now, onChange, onNewService, knownServices });
  return { clock, onChange, onNewService, registry };
}

/** Healthy endpoints (unhealthy ones stay in the table, marked). */
const ids = (r: Registry, service: string) => {
  const endpoints = r.routingServices()[service]?.endpoints;
  return endpoints?.filter((e) => e.health === undefined).map((e) => e.id);
};
const all = (r: Registry, service: string) =>
  r.routingServices()[service]?.endpoints.map((e) => `${e.id}:${e.health ?? 'healthy'}`);

describe('Registry: who is routable', () => {
  it('keeps a connected instance out until its agent reports it healthy', () => {
    const { registry } = setup();
    const r = registry.connect(hello('o-1', instance('o-1', 'orders')), '10.0.0.1');
    expect(ids(registry, 'orders')).toEqual([]);
    registry.health(r, 'healthy', undefined);
    expect(ids(registry, 'orders')).toEqual(['o-1']);
    expect(all(registry, 'orders')).toEqual(['o-1:healthy']);
    registry.health(r, 'unhealthy', 'down');
    expect(ids(registry, 'orders')).toEqual([]);
    expect(all(registry, 'orders')).toEqual(['o-1:unhealthy']);
    registry.health(r, 'healthy', undefined);
    registry.disconnect(r, 'closed');
    expect(ids(registry, 'orders')).toEqual([]);
    expect(all(registry, 'orders')).toEqual(['o-1:unhealthy']);
  });

  it('drops the instance of an agent that shut down cleanly, and leaves out one not yet reported', () => {
    const { registry } = setup();
    const r = registry.connect(hello('o-1', instance('o-1', 'orders')), '10.0.0.1');
    expect(all(registry, 'orders')).toEqual([]);
    registry.health(r, 'healthy', undefined);
    registry.disconnect(r, 'agent shutting down', true);
    expect(all(registry, 'orders')).toEqual([]);
  });

  it('sorts endpoints by id and groups them by service', () => {
    const { registry } = setup();
    for (const [agent, service] of [
      ['o-3', 'orders'],
      ['b-1', 'billing'],
      ['o-1', 'orders'],
      ['o-2', 'orders'],
    ] as const) {
      registry.health(registry.connect(hello(agent, instance(agent, service)), ''), 'healthy', undefined);
    }
    expect(registry.routingServices()).toEqual({
      billing: { endpoints: [expect.objectContaining({ id: 'b-1' })] },
      orders: {
        endpoints: [
          expect.objectContaining({ id: 'o-1' }),
          expect.objectContaining({ id: 'o-2' }),
          expect.objectContaining({ id: 'o-3' }),
        ],
      },
    });
  });

  it('builds endpoints from the instance info, with zone only when it is set', () => {
    const { registry } = setup();
    const zoned = instance('o-1', 'orders', {
      host: '10.0.0.1',
      port: 1234,
      tier: 2,
      weight: 30,
      labels: { role: 'primary' },
      zone: 'eu-1a',
    });
    registry.health(registry.connect(hello('agent-x', zoned), ''), 'healthy', undefined);
    registry.health(registry.connect(hello('agent-y', instance('o-2', 'orders')), ''), 'healthy', undefined);
    const [a, b] = registry.routingServices().orders?.endpoints ?? [];
    expect(a).toEqual({
      id: 'o-1',
      host: '10.0.0.1',
      port: 1234,
      tier: 2,
      weight: 30,
      labels: { role: 'primary' },
      zone: 'eu-1a',
    });
    expect(b).toEqual({ id: 'o-2', host: 'o-2.local', port: 15006, tier: 0, weight: 1, labels: {} });
    expect(Object.keys(b ?? {})).not.toContain('zone');
  });

  it('keeps known services with no healthy instance, and adds no service for a client-only agent', () => {
    const { registry } = setup(['orders', 'billing']);
    registry.health(registry.connect(hello('client-1'), ''), 'healthy', undefined);
    expect(registry.routingServices()).toEqual({ billing: { endpoints: [] }, orders: { endpoints: [] } });
  });

  it('returns a fresh table each time, so callers may keep or change it', () => {
    const { registry } = setup();
    registry.health(registry.connect(hello('o-1', instance('o-1', 'orders')), ''), 'healthy', undefined);
    const first = registry.routingServices();
    first.orders?.endpoints.pop();
    expect(ids(registry, 'orders')).toEqual(['o-1']);
  });

  it('replaces the record of an agent that reconnects: it is unknown again until it reports', () => {
    const { registry } = setup();
    const old = registry.connect(hello('o-1', instance('o-1', 'orders')), '10.0.0.1');
    registry.health(old, 'healthy', undefined);
    const fresh = registry.connect(hello('o-1', instance('o-1', 'orders')), '10.0.0.2');
    expect(registry.agents()).toEqual([fresh]);
    expect(fresh.remoteAddress).toBe('10.0.0.2');
    expect(ids(registry, 'orders')).toEqual([]);
    // The old connection closing later does not take the new one down.
    registry.disconnect(old, 'replaced');
    registry.health(fresh, 'healthy', undefined);
    expect(ids(registry, 'orders')).toEqual(['o-1']);
  });
});

describe('Registry: callbacks', () => {
  it('calls onChange on connect, on a health change and on the first disconnect only', () => {
    const { registry, onChange } = setup();
    const r = registry.connect(hello('o-1', instance('o-1', 'orders')), '');
    expect(onChange).toHaveBeenCalledTimes(1);
    registry.health(r, 'unhealthy', 'a');
    expect(onChange).toHaveBeenCalledTimes(2);
    registry.health(r, 'unhealthy', 'another reason');
    expect(onChange).toHaveBeenCalledTimes(2);
    expect(r.healthReason).toBe('another reason');
    registry.seen(r);
    expect(onChange).toHaveBeenCalledTimes(2);
    registry.disconnect(r, 'closed');
    registry.disconnect(r, 'closed again');
    expect(onChange).toHaveBeenCalledTimes(3);
    expect(r.disconnectReason).toBe('closed');
  });

  it('calls onNewService with all names, only when an instance of a service is first healthy', () => {
    const { registry, onNewService } = setup(['billing']);
    registry.health(registry.connect(hello('b-1', instance('b-1', 'billing')), ''), 'healthy', undefined);
    expect(onNewService).not.toHaveBeenCalled();
    const o1 = registry.connect(hello('o-1', instance('o-1', 'orders')), '');
    const o2 = registry.connect(hello('o-2', instance('o-2', 'orders')), '');
    registry.connect(hello('client'), '');
    expect(onNewService).not.toHaveBeenCalled();
    registry.health(o1, 'healthy', undefined);
    registry.health(o2, 'healthy', undefined);
    expect(onNewService.mock.calls).toEqual([[['billing', 'orders']]]);
  });

  it('keeps a service name after its last instance is forgotten, once an instance of it was healthy', () => {
    const { registry, clock } = setup();
    const r = registry.connect(hello('o-1', instance('o-1', 'orders')), '');
    registry.health(r, 'healthy', undefined);
    registry.disconnect(r, 'closed');
    clock.now += 10_000;
    registry.forget(0);
    expect(registry.agents()).toEqual([]);
    expect(registry.serviceNames()).toEqual(['orders']);
    expect(registry.routingServices()).toEqual({ orders: { endpoints: [] } });
  });

  it('forgets a service name that only a never-healthy, expired registration mentioned', () => {
    const { registry, clock, onNewService } = setup(['billing']);
    const ghost = registry.connect(hello('g-1', instance('g-1', 'ghost')), '');
    registry.health(ghost, 'unhealthy', 'no app behind it');
    expect(registry.serviceNames()).toEqual(['billing', 'ghost']);
    expect(Object.keys(registry.routingServices())).toEqual(['billing', 'ghost']);
    registry.disconnect(ghost, 'closed');
    clock.now += 10_000;
    registry.forget(0);
    expect(registry.serviceNames()).toEqual(['billing']);
    expect(Object.keys(registry.routingServices())).toEqual(['billing']);
    expect(onNewService).not.toHaveBeenCalled();
  });

  it('does not remember the service of a disconnected record put from another replica', () => {
    const { registry, onNewService } = setup();
    const r = registry.connect(hello('o-1', instance('o-1', 'orders')), '');
    registry.put({ ...r, connected: false, health: 'healthy' });
    expect(onNewService).not.toHaveBeenCalled();
    registry.put({ ...r, connected: true, health: 'healthy' });
    expect(onNewService.mock.calls).toEqual([[['orders']]]);
  });
});

describe('Registry: clock', () => {
  it('stamps connect, seen and disconnect with the injected clock', () => {
    const { registry, clock } = setup();
    const r = registry.connect(hello('o-1'), '');
    expect(r).toMatchObject({ connectedAt: 1_000, lastSeenAt: 1_000, connected: true, health: 'unknown' });
    clock.now = 2_500;
    registry.seen(r);
    expect(r.lastSeenAt).toBe(2_500);
    clock.now = 4_000;
    registry.disconnect(r, 'bye');
    expect(r).toMatchObject({ connected: false, disconnectedAt: 4_000, disconnectReason: 'bye' });
  });

  it('lists as silent only connected agents silent for longer than the timeout', () => {
    const { registry, clock } = setup();
    const quiet = registry.connect(hello('quiet'), '');
    const gone = registry.connect(hello('gone'), '');
    const chatty = registry.connect(hello('chatty'), '');
    registry.disconnect(gone, 'closed');
    clock.now += 3_000;
    registry.seen(chatty);
    expect(registry.silentAgents(3_000)).toEqual([]);
    clock.now += 1;
    expect(registry.silentAgents(3_000)).toEqual([quiet]);
    clock.now += 3_000;
    expect(registry.silentAgents(3_000)).toEqual([quiet, chatty]);
  });

  it('forgets disconnected agents only once they have been gone longer than afterMs', () => {
    const { registry, clock } = setup();
    const early = registry.connect(hello('early'), '');
    const late = registry.connect(hello('late'), '');
    registry.connect(hello('alive'), '');
    registry.disconnect(early, 'closed');
    clock.now += 1_000;
    registry.disconnect(late, 'closed');
    clock.now += 5_000;
    registry.forget(6_000);
    expect(registry.agents().map((a) => a.agentId)).toEqual(['early', 'late', 'alive']);
    registry.forget(5_999);
    expect(registry.agents().map((a) => a.agentId)).toEqual(['late', 'alive']);
    clock.now += 1_000_000;
    registry.forget(0);
    expect(registry.agents().map((a) => a.agentId)).toEqual(['alive']);
  });

  it('remembers the service the credential admitted the agent for, and none for the shared token or open mode', () => {
    const registry = new Registry({ clock: () => 0, onChange: () => undefined });
    expect(registry.connect(helloFor('o-1', 'orders'), '127.0.0.1', 'orders').admittedFor).toBe('orders');
    expect(registry.get('o-1')?.admittedFor).toBe('orders');
    expect('admittedFor' in registry.connect(helloFor('o-2', 'orders'), '127.0.0.1')).toBe(false);
  });
});
