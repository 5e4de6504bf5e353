import type { Hello } from '@meshlet/shared';
import { describe, expect, it, vi } from 'vitest';
import { Registry } from './registry.js';

const hello = (id: string, service?: string, zone?: string): Hello => ({
  type: 'hello',
  protocolVersion: 1,
  agentId: id,
  tableVersion: 0,
  ...(service ? { instance: { service, id, host: '127.0.0.1', port: 1000, tier: 0, weight: 1, labels: {}, ...(zone ? { zone } : {}) } } : {}),
});

describe('Registry', () => {
  it('routes only to connected instances whose app is healthy', () => {
    let now = 0;
    const onChange = vi.fn();
    const onNewService = vi.fn();
    const r = new Registry({ clock: () => now, onChange, onNewService });
    const b = r.connect(hello('b-1', 'hello', 'z1'), '1.1.1.1');
    const a = r.connect(hello('a-1', 'hello'), '1.1.1.1');
    r.connect(hello('client'), '1.1.1.1');
    expect(onNewService).toHaveBeenCalledTimes(1);
    expect(onNewService).toHaveBeenCalledWith(['hello']);
    expect(r.routingServices()).toEqual({ hello: { endpoints: [] } });

    r.health(b, 'healthy', undefined);
    r.health(a, 'healthy', undefined);
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
    expect(r.agents().map((x) => x.agentId).sort()).toEqual(['client']);
    expect(r.serviceNames()).toEqual(['hello']);
  });

  it('lists agents silent for longer than the timeout', () => {
    let now = 0;
    const r = new Registry({ clock: () => now, onChange: () => undefined, knownServices: ['orders'] });
    const x = r.connect(hello('x'), '');
    const y = r.connect(hello('y'), '');
    now = 2_000;
    r.seen(y);
    now = 3_500;
    expect(r.silentAgents(3_000)).toEqual([x]);
    expect(r.routingServices()).toEqual({ orders: { endpoints: [] } });
  });
});
