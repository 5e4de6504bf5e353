import { createLogger } from '@meshlet/shared';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../metrics.js';
import { StreamUpgrade, type UpgradeDecision } from './stream-upgrade.js';
import { UnauthenticatedStreams } from './unauthenticated-streams.js';

const RIGHT = 'mjc_right.secret';

function setup() {
  let now = 1_000_000;
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const metrics = createMetrics();
  const upgrade = new StreamUpgrade({
    verify: (token) =>
      token === RIGHT
        ? { ok: true, credentialId: 'mjc_right', service: 'web' }
        : { ok: false, reason: 'unknown', message: 'join credential is unknown' },
    unauthenticated: new UnauthenticatedStreams({ perAddress: 2, total: 3 }),
    metrics,
    log: createLogger('test', 'debug', sink),
    clock: () => now,
  });
  const bearer = (token: string, address = '10.0.0.1') =>
    upgrade.check({ address, authorization: `Bearer ${token}`, certified: false });
  return { upgrade, bearer, lines, metrics, advance: (ms: number) => (now += ms) };
}

const status = (d: UpgradeDecision): number => (d.ok ? 101 : d.error.statusCode);

describe('StreamUpgrade', () => {
  it('lets a valid credential through with it, and refuses a wrong one with 401 before any message', () => {
    const { bearer } = setup();
    expect(bearer(RIGHT)).toEqual({ ok: true, credential: RIGHT });
    const wrong = bearer('mjc_guess.secret');
    expect(status(wrong)).toBe(401);
    expect(!wrong.ok && wrong.error.code).toBe('MESHLET_STREAM_UNAUTHORIZED');
  });

  it('throttles wrong credentials with 429 after 5, never a valid one, and ends the block in time', () => {
    const { bearer, advance, lines } = setup();
    const statuses = Array.from({ length: 300 }, (_, i) => status(bearer(`guess-${i}`)));
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(new Set(statuses.slice(5))).toEqual(new Set([429]));
    const throttled = bearer('guess');
    expect(!throttled.ok && throttled.retryAfterSeconds).toBe(60);
    expect(!throttled.ok && throttled.error.code).toBe('MESHLET_TOO_MANY_JOIN_FAILURES');
    expect(bearer(RIGHT).ok).toBe(true);
    // Another address is not held back by this one.
    expect(status(bearer('guess', '10.0.0.2'))).toBe(401);
    // A log line for each of the first wrong ones and the block, not one for each of the 295 throttled.
    expect(lines.filter((l) => l.includes('10.0.0.1')).length).toBeLessThanOrEqual(6);
    expect(lines.join('')).not.toContain('guess-');
    advance(60_000);
    expect(status(bearer('guess'))).toBe(401);
  });

  it('an IPv6 caller with a whole /64 is throttled as one: wrong credentials from distinct addresses of it', () => {
    const { bearer } = setup();
    const statuses = Array.from({ length: 40 }, (_, i) => status(bearer(`guess-${i}`, `2001:db8:1:2::${i + 1}`)));
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(new Set(statuses.slice(5))).toEqual(new Set([429]));
    // A valid credential from the same /64 still passes; another /64 is not held back.
    expect(bearer(RIGHT, '2001:db8:1:2::ffff').ok).toBe(true);
    expect(status(bearer('guess', '2001:db8:1:3::1'))).toBe(401);
  });

  it('counts no malformed header as a guess but refuses it, naming the header', () => {
    const { upgrade } = setup();
    for (let i = 0; i < 10; i++) {
      const d = upgrade.check({ address: '10.0.0.1', authorization: 'Basic dXNlcjpwYXNz', certified: false });
      expect(status(d)).toBe(401);
      expect(!d.ok && d.error.message).toContain('Authorization: Bearer');
    }
  });

  it('gives a stream without a credential a place among the unauthenticated ones, within the caps', () => {
    const { upgrade } = setup();
    const bare = (address: string) => upgrade.check({ address, authorization: undefined, certified: false });
    const first = bare('10.0.0.1');
    expect(first.ok && typeof first.release).toBe('function');
    expect(bare('10.0.0.1').ok).toBe(true);
    const third = bare('10.0.0.1');
    expect(status(third)).toBe(503);
    expect(!third.ok && third.error.message).toContain('stream.maxUnauthenticatedPerAddress');
    expect(bare('10.0.0.2').ok).toBe(true);
    const full = bare('10.0.0.3');
    expect(!full.ok && full.error.message).toContain('stream.maxUnauthenticated)');
    if (first.ok) first.release?.();
    expect(bare('10.0.0.3').ok).toBe(true);
    // A client certificate authenticates the stream: no place taken, whatever the caps, and the credential beside it
    // (a bootstrap one that expired) is not looked at, as at the hello.
    expect(upgrade.check({ address: '10.0.0.1', authorization: undefined, certified: true })).toEqual({ ok: true });
    expect(upgrade.check({ address: '10.0.0.1', authorization: 'Bearer expired', certified: true })).toEqual({
      ok: true,
    });
  });
});
