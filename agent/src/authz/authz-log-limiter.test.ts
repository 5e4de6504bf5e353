import { describe, expect, it } from 'vitest';
import { AuthzLogLimiter } from './authz-log-limiter.js';

describe('AuthzLogLimiter', () => {
  it('a denied flood logs one line per caller, service and rule per interval, with the count it held back', () => {
    let now = 0;
    const limiter = new AuthzLogLimiter(() => now, 10_000);
    expect(limiter.admit('batch/orders/r')).toEqual({ log: true, suppressed: 0 });
    for (let i = 0; i < 500; i++) expect(limiter.admit('batch/orders/r').log).toBe(false);
    expect(limiter.admit('web/orders/r')).toEqual({ log: true, suppressed: 0 });
    now = 9_999;
    expect(limiter.admit('batch/orders/r').log).toBe(false);
    now = 10_000;
    expect(limiter.admit('batch/orders/r')).toEqual({ log: true, suppressed: 501 });
    expect(limiter.admit('batch/orders/r').log).toBe(false);
  });
});
