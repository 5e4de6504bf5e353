import type { Observations } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { CallerLog } from './caller-log.js';

const report = (...endpoints: Array<[string, string, number]>): Observations => ({
  type: 'observations',
  windowMs: 1000,
  endpoints: endpoints.map(([service, id, ok]) => ({ service, id, ok, failed: 0 })),
});
const known = (service: string, id: string) => id.startsWith(`${service}-`);

describe('CallerLog', () => {
  it('counts who calls whom, per callee, from reports of known endpoints', () => {
    let now = 1000;
    const log = new CallerLog(() => now);
    log.record('web', report(['orders', 'orders-1', 3], ['users', 'users-1', 1]), known);
    now = 2000;
    log.record('web', report(['orders', 'orders-2', 2]), known);
    log.record('batch', report(['orders', 'orders-1', 1]), known);
    log.record(undefined, report(['orders', 'orders-1', 4]), known);
    expect(log.callersOf('orders')).toEqual({
      service: 'orders',
      since: 1000,
      callers: [
        { service: 'batch', requests: 1, firstSeenAt: 2000, lastSeenAt: 2000 },
        { service: 'web', requests: 5, firstSeenAt: 1000, lastSeenAt: 2000 },
      ],
      unidentifiedRequests: 4,
    });
    expect(log.callersOf('users').callers.map((c) => c.service)).toEqual(['web']);
  });

  it('an endpoint the control plane does not know, or an empty window, adds nothing', () => {
    const log = new CallerLog(() => 0);
    log.record('web', report(['made-up', 'x-1', 100], ['orders', 'orders-1', 0]), known);
    expect(log.callersOf('made-up').callers).toEqual([]);
    expect(log.callersOf('orders').callers).toEqual([]);
  });
});
