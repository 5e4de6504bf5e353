import { describe, expect, it } from 'vitest';
import { coordFailure } from './coord-failure.js';

// The app's HTTP status for a control plane's refusal.

describe('coordFailure', () => {
  const refused = (extra: object) => ({
    type: 'coordResult' as const,
    id: 1,
    ok: false,
    code: 'MESHLET_COORDINATION_REFUSED',
    ...extra,
  });

  it('maps MESHLET_COORDINATION_REFUSED by its structured refusal, whatever its message says', () => {
    const message = 'the store is fine; no service words here';
    expect(coordFailure(refused({ refusal: 'no-service', message: 'x' })).statusCode).toBe(403);
    expect(coordFailure(refused({ refusal: 'store', message })).statusCode).toBe(503);
    expect(coordFailure(refused({ refusal: 'limit', message })).statusCode).toBe(429);
    expect(coordFailure(refused({ refusal: 'request', message })).statusCode).toBe(400);
    expect(coordFailure(refused({ refusal: 'limit', message }))).toMatchObject({
      code: 'MESHLET_COORDINATION_REFUSED',
      message,
    });
  });

  it('falls back to the words of the message from a control plane that sends no refusal', () => {
    expect(coordFailure(refused({ message: 'the agent has no service' })).statusCode).toBe(403);
    expect(coordFailure(refused({ message: 'the store is unavailable' })).statusCode).toBe(503);
    expect(coordFailure(refused({ message: 'ttlMs longer than the lease' })).statusCode).toBe(400);
  });
});
