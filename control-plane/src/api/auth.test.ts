import * as crypto from 'node:crypto';
import { Writable } from 'node:stream';
import { createLogger } from '@meshlet/shared';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AuthFailures } from './auth-failures.js';
import { type AuthOptions, createAuth } from './auth.js';
import type { AuthToken } from './auth-tokens.js';

// The real timingSafeEqual, counted: the constant-time comparison must run against every token.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const ADMIN = 'admin-0c4e8b1f9a2d7e65';
const READER = 'reader-5b1d9e2c7f3a8064';
const SECOND_ADMIN = 'ops-9e8d7c6b5a4f3e2d1c';
const TOKENS: AuthToken[] = [
  { name: 'auth.adminToken', token: ADMIN, role: 'admin' },
  { name: 'auth.readOnlyToken', token: READER, role: 'read-only' },
  { name: 'ops', token: SECOND_ADMIN, role: 'admin' },
];

function setup(options: Partial<AuthOptions> = {}) {
  let now = 1_000_000;
  let logs = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs += chunk.toString();
      done();
    },
  });
  const auth = createAuth({
    tokens: TOKENS,
    open: ['/healthz', '/v1/stream'],
    clock: () => now,
    log: createLogger('test', 'debug', sink),
    ...options,
  });
  const app: FastifyInstance = Fastify();
  app.addHook('onRequest', auth.hook);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/v1/agents', async (req) => ({ agents: [], role: auth.roleOf(req) }));
  app.post('/v1/services/:name/failover', async () => ({ ok: true }));
  return {
    app,
    auth,
    advance: (ms: number) => {
      now += ms;
    },
    logs: () => logs,
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('createAuth', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    vi.mocked(crypto.timingSafeEqual).mockClear();
  });

  it('lets everything through when no token is configured, as admin', async () => {
    const t = setup({ tokens: [] });
    app = t.app;
    const get = await app.inject({ url: '/v1/agents' });
    expect(get.statusCode).toBe(200);
    expect(get.json().role).toBe('admin');
    expect((await app.inject({ method: 'POST', url: '/v1/services/x/failover' })).statusCode).toBe(200);
  });

  it('needs nothing on open paths, even with a query string', async () => {
    const t = setup();
    app = t.app;
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/healthz?verbose=1' })).statusCode).toBe(200);
    // Only the exact path is open: a look-alike is not.
    expect((await app.inject({ url: '/healthz/x' })).statusCode).toBe(401);
  });

  it('opens every path under a prefix that ends in *', async () => {
    const t = setup({ open: ['/docs/*'] });
    app = t.app;
    app.get('/docs/static/x.js', async () => 'x');
    expect((await app.inject({ url: '/docs/static/x.js' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/v1/agents' })).statusCode).toBe(401);
  });

  it('answers 401 with WWW-Authenticate and a JSON body without a token or with a wrong one', async () => {
    const t = setup();
    app = t.app;
    const none = await app.inject({ url: '/v1/agents' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="meshlet"');
    expect(none.json()).toEqual({
      error: { code: 'MESHLET_UNAUTHORIZED', message: expect.stringContaining('Authorization: Bearer') },
    });
    for (const header of [
      `Bearer ${ADMIN}x`,
      `Bearer ${ADMIN.slice(0, -1)}`,
      'Bearer short',
      `Basic ${ADMIN}`,
      ADMIN,
      'Bearer ',
    ]) {
      const wrong = await app.inject({ url: '/v1/agents', headers: { authorization: header } });
      expect(wrong.statusCode, header).toBe(401);
      expect(wrong.headers['www-authenticate']).toBe('Bearer realm="meshlet", error="invalid_token"');
      expect(wrong.json().error.code).toBe('MESHLET_UNAUTHORIZED');
      t.advance(60_000); // keep clear of the slow-down
    }
  });

  it('gives each token its role; the scheme is case-insensitive', async () => {
    const t = setup();
    app = t.app;
    const admin = await app.inject({ url: '/v1/agents', headers: bearer(ADMIN) });
    expect(admin.statusCode).toBe(200);
    expect(admin.json().role).toBe('admin');
    const reader = await app.inject({ url: '/v1/agents', headers: { authorization: `bearer ${READER}` } });
    expect(reader.statusCode).toBe(200);
    expect(reader.json().role).toBe('read-only');
    expect((await app.inject({ url: '/v1/agents', headers: bearer(SECOND_ADMIN) })).json().role).toBe('admin');
    expect(
      (await app.inject({ method: 'POST', url: '/v1/services/x/failover', headers: bearer(SECOND_ADMIN) })).statusCode,
    ).toBe(200);
  });

  it('compares in constant time against every token, also when the first one matches', async () => {
    const t = setup();
    app = t.app;
    const compare = vi.mocked(crypto.timingSafeEqual);
    for (const token of [ADMIN, SECOND_ADMIN, 'not-a-token-at-all-0000']) {
      compare.mockClear();
      await app.inject({ url: '/v1/agents', headers: bearer(token) });
      expect(compare).toHaveBeenCalledTimes(TOKENS.length);
      // SHA-256 digests on both sides: equal lengths whatever was sent.
      for (const [a, b] of compare.mock.calls) {
        expect((a as Buffer).length).toBe(32);
        expect((b as Buffer).length).toBe(32);
      }
    }
  });

  it('lets a read-only token read (GET, HEAD, OPTIONS) and answers 403 to anything else, even on an unknown route', async () => {
    const t = setup();
    app = t.app;
    for (const method of ['GET', 'HEAD', 'OPTIONS'] as const) {
      const r = await app.inject({ method, url: '/v1/agents', headers: bearer(READER) });
      expect(r.statusCode, method).not.toBe(403);
      expect(r.statusCode, method).not.toBe(401);
    }
    for (const [method, url] of [
      ['POST', '/v1/services/x/failover'],
      ['DELETE', '/v1/agents'],
      ['PUT', '/v1/no-such-route'],
      ['PATCH', '/v1/agents'],
    ] as const) {
      const r = await app.inject({ method, url, headers: bearer(READER) });
      expect(r.statusCode, `${method} ${url}`).toBe(403);
      expect(r.headers['www-authenticate']).toContain('insufficient_scope');
      expect(r.json()).toEqual({
        error: {
          code: 'MESHLET_FORBIDDEN',
          message: `the read-only token "auth.readOnlyToken" cannot ${method} ${url}; use an admin token`,
        },
      });
    }
    expect(t.logs()).toContain('refused a change requested with a read-only token');
  });

  it('slows down an address after 5 wrong tokens in 60 s: its wrong tokens get 429 with Retry-After until 60 s after the last one', async () => {
    const t = setup();
    app = t.app;
    const wrong = { url: '/v1/agents', headers: bearer('wrong-token-wrong-token'), remoteAddress: '10.0.0.7' };
    for (let i = 0; i < 5; i++) {
      expect((await app.inject(wrong)).statusCode).toBe(401);
      t.advance(10_000);
    }
    // The 5th failure was 10 s ago: 50 s left.
    const blocked = await app.inject(wrong);
    expect(blocked.statusCode).toBe(429);
    expect(blocked.headers['retry-after']).toBe('50');
    expect(blocked.json()).toEqual({
      error: { code: 'MESHLET_TOO_MANY_AUTH_FAILURES', message: expect.stringContaining('retry in 50 s') },
    });
    // Only failures wait: the right token gets through meanwhile, and another address is not affected.
    expect((await app.inject({ ...wrong, headers: bearer(ADMIN) })).statusCode).toBe(200);
    // A missing token is not a guess: 401 as ever.
    expect((await app.inject({ url: '/v1/agents', remoteAddress: '10.0.0.7' })).statusCode).toBe(401);
    expect(
      (await app.inject({ url: '/v1/agents', headers: bearer(ADMIN), remoteAddress: '10.0.0.8' })).statusCode,
    ).toBe(200);
    // Open paths stay open.
    expect((await app.inject({ url: '/healthz', remoteAddress: '10.0.0.7' })).statusCode).toBe(200);
    t.advance(49_500);
    expect((await app.inject(wrong)).headers['retry-after']).toBe('1');
    t.advance(500);
    expect((await app.inject({ ...wrong, headers: bearer(ADMIN) })).statusCode).toBe(200);
  });

  it('counts failures within the window only, does not count a missing token, and a success does not reset the count (it passes, the next wrong one waits)', async () => {
    const t = setup();
    app = t.app;
    const wrong = { url: '/v1/agents', headers: bearer('wrong-token-wrong-token'), remoteAddress: '10.0.0.9' };
    const right = { url: '/v1/agents', headers: bearer(READER), remoteAddress: '10.0.0.9' };
    const none = { url: '/v1/agents', remoteAddress: '10.0.0.9' };
    // Spread over more than 60 s: never 5 in a window.
    for (let i = 0; i < 8; i++) {
      expect((await app.inject(wrong)).statusCode).toBe(401);
      t.advance(16_000);
    }
    for (let i = 0; i < 10; i++) expect((await app.inject(none)).statusCode).toBe(401);
    t.advance(60_000);
    for (let i = 0; i < 3; i++) await app.inject(wrong);
    expect((await app.inject(right)).statusCode).toBe(200);
    await app.inject(wrong);
    expect((await app.inject(right)).statusCode).toBe(200);
    await app.inject(wrong);
    expect((await app.inject(wrong)).statusCode).toBe(429);
    expect((await app.inject(right)).statusCode).toBe(200);
  });

  it("locked out by someone else's mistakes: after 5 wrong tokens from one address, a valid admin token from it still passes, reads and writes", async () => {
    const t = setup();
    app = t.app;
    const shared = '192.0.2.10'; // one NAT, a guesser and an operator behind it
    for (let i = 0; i < 5; i++)
      await app.inject({ url: '/v1/agents', headers: bearer('guess-guess-guess-guess'), remoteAddress: shared });
    expect(
      (await app.inject({ url: '/v1/agents', headers: bearer('guess-guess-guess-guess'), remoteAddress: shared }))
        .statusCode,
    ).toBe(429);
    const read = await app.inject({ url: '/v1/agents', headers: bearer(ADMIN), remoteAddress: shared });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ role: 'admin' });
    const write = await app.inject({
      method: 'POST',
      url: '/v1/services/x/failover',
      headers: bearer(SECOND_ADMIN),
      remoteAddress: shared,
    });
    expect(write.statusCode).toBe(200);
  });

  it('an IPv6 caller with a whole /64 is throttled as one: wrong tokens from distinct addresses of it get 429', async () => {
    const t = setup();
    app = t.app;
    const statuses: number[] = [];
    for (let i = 1; i <= 12; i++) {
      const from = `2001:db8:7:9::${i.toString(16)}`;
      statuses.push(
        (await app.inject({ url: '/v1/agents', headers: bearer('guess-guess-guess'), remoteAddress: from })).statusCode,
      );
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(new Set(statuses.slice(5))).toEqual(new Set([429]));
    const other = await app.inject({
      url: '/v1/agents',
      headers: bearer('guess-guess-guess'),
      remoteAddress: '2001:db8:7:a::1',
    });
    expect(other.statusCode).toBe(401);
    const valid = await app.inject({ url: '/v1/agents', headers: bearer(ADMIN), remoteAddress: '2001:db8:7:9::abcd' });
    expect(valid.statusCode).toBe(200);
  });

  it('logs each failure with the address and path, never a token', async () => {
    const t = setup();
    app = t.app;
    await app.inject({ url: '/v1/agents?x=1', remoteAddress: '10.1.2.3' });
    for (let i = 0; i < 5; i++)
      await app.inject({ url: '/v1/agents', headers: bearer(`${ADMIN}-guess`), remoteAddress: '10.1.2.3' });
    await app.inject({ method: 'POST', url: '/v1/services/x/failover', headers: bearer(READER) });
    const lines = t
      .logs()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const refusals = lines.filter((l) => l.msg === 'refused an admin API request without a valid bearer token');
    expect(refusals).toHaveLength(6);
    expect(refusals[0]).toMatchObject({
      level: 40,
      remoteAddress: '10.1.2.3',
      path: '/v1/agents',
      method: 'GET',
      reason: 'no token',
    });
    expect(refusals[1]).toMatchObject({ reason: 'wrong token' });
    expect(
      lines.some(
        (l) =>
          l.msg ===
          'too many wrong bearer tokens from one address; answering its wrong tokens with 429 for a while (valid tokens still pass)',
      ),
    ).toBe(true);
    expect(t.logs()).not.toContain(ADMIN);
    expect(t.logs()).not.toContain(READER);
  });
});

describe('AuthFailures', () => {
  it('tracks at most maxAddresses, forgetting the address quiet longest', () => {
    let now = 0;
    const f = new AuthFailures({ maxFailures: 2, windowMs: 60_000, blockMs: 60_000, maxAddresses: 3 }, () => now);
    f.fail('a');
    f.fail('b');
    f.fail('c');
    now += 1;
    f.fail('a'); // a is now the most recent, and blocked
    expect(f.retryAfterMs('a')).toBe(60_000);
    f.fail('d'); // evicts b, the oldest
    expect(f.size).toBe(3);
    f.fail('b'); // b starts over: one failure, not blocked
    expect(f.retryAfterMs('b')).toBe(0);
    expect(f.size).toBe(3);
    expect(f.retryAfterMs('a')).toBe(60_000);
  });

  it('stays bounded under a flood of addresses', () => {
    let now = 0;
    const f = new AuthFailures({ maxFailures: 5, windowMs: 60_000, blockMs: 60_000, maxAddresses: 10_000 }, () => now);
    for (let i = 0; i < 50_000; i++) {
      f.fail(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      now++;
    }
    expect(f.size).toBe(10_000);
  });

  it('forgets an address once its failures are older than the window and the block', () => {
    let now = 0;
    const f = new AuthFailures({ maxFailures: 5, windowMs: 60_000, blockMs: 60_000, maxAddresses: 10 }, () => now);
    f.fail('a');
    now = 60_000;
    expect(f.retryAfterMs('a')).toBe(0);
    expect(f.size).toBe(0);
  });
});
