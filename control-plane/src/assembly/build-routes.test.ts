import type { ServiceRoutes } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { InstanceRoles } from '../health/instance-roles.js';
import { markRoles } from './build-routes.js';

describe('markRoles', () => {
  it("marks each endpoint with its check's role and sets its role label over a configured one, without touching the record's labels", () => {
    const configured = { role: 'primary', zone: 'a' };
    const services: Record<string, ServiceRoutes> = {
      pg: {
        endpoints: [
          { id: 'pg-1', host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: configured },
          { id: 'pg-2', host: '127.0.0.1', port: 2, tier: 0, weight: 1, labels: {} },
          { id: 'pg-3', host: '127.0.0.1', port: 3, tier: 0, weight: 1, labels: { role: 'replica' } },
        ],
      },
    };
    const roles = new InstanceRoles();
    roles.record('pg', 'pg-1', { role: 'replica', replicationOffset: 10, healthy: true, at: 0 });
    roles.record('pg', 'pg-2', { role: 'primary', replicationOffset: 20, healthy: true, at: 0 });
    roles.record('other', 'pg-3', { role: 'primary', healthy: true, at: 0 });
    markRoles(services, roles);
    const [one, two, three] = services.pg?.endpoints ?? [];
    expect(one).toMatchObject({ role: 'replica', labels: { role: 'replica', zone: 'a' } });
    expect(two).toMatchObject({ role: 'primary', labels: { role: 'primary' } });
    // No report for pg-3 in pg: its configured label stands, no role.
    expect(three?.role).toBeUndefined();
    expect(three?.labels).toEqual({ role: 'replica' });
    expect(configured).toEqual({ role: 'primary', zone: 'a' });
  });

  it('attack: an unhealthy endpoint keeps a role (a configured label, or a stale report of an agent gone without a goodbye) and panic routing sends role traffic to it: it carries none', () => {
    const configured = { role: 'primary', zone: 'a' };
    const services: Record<string, ServiceRoutes> = {
      pg: {
        endpoints: [
          { id: 'pg-1', host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: configured, health: 'unhealthy' },
          { id: 'pg-2', host: '127.0.0.1', port: 2, tier: 0, weight: 1, labels: {}, health: 'unhealthy' },
          {
            id: 'pg-3',
            host: '127.0.0.1',
            port: 3,
            tier: 0,
            weight: 1,
            labels: { role: 'canary' },
            health: 'unhealthy',
          },
        ],
      },
    };
    const roles = new InstanceRoles();
    // pg-2's agent vanished while primary: its last report stands in InstanceRoles.
    roles.record('pg', 'pg-2', { role: 'primary', replicationOffset: 20, healthy: true, at: 0 });
    markRoles(services, roles);
    const [one, two, three] = services.pg?.endpoints ?? [];
    expect([one?.role, two?.role]).toEqual([undefined, undefined]);
    expect(one?.labels).toEqual({ zone: 'a' });
    expect(two?.labels).toEqual({});
    // A role label that is no database role is left alone.
    expect(three?.labels).toEqual({ role: 'canary' });
    expect(configured).toEqual({ role: 'primary', zone: 'a' });
  });
});
