import { describe, expect, it } from 'vitest';
import { closeReason } from './agent-session.js';

describe('closeReason', () => {
  it('is always a valid WebSocket close reason, whatever the peer sent (regression: a non-ASCII type crashed the control plane)', () => {
    const r = closeReason(`first message must be a valid hello: unknown message type "${'€'.repeat(60)}"`);
    expect(Buffer.byteLength(r)).toBeLessThanOrEqual(123);
    expect(r).toMatch(/^[\x20-\x7e]*$/);
  });
});
