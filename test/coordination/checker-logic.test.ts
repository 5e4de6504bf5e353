import { describe, expect, it } from 'vitest';
import { beliefsOf, checkElection, type ElectionEvent } from './lib/election-checker.js';
import { FencedResource } from './lib/fenced-resource.js';
import { checkLocks, type StoreRecord } from './lib/lock-checker.js';
import { type LockEvent, parseHistory } from './lib/lock-history.js';

// The checker's own logic, on recorded histories: a history where the locks
// held passes, and each kind of violation is caught. The end-to-end runs
// (lock-checker.test.ts, election-chaos.test.ts) trust these verdicts.

const holder = (id: string) => ({ agentId: id, instanceId: id });
const ok = (client: string, token: number, at: number): LockEvent => ({
  type: 'acquire',
  client,
  invokedAt: at,
  returnedAt: at + 5,
  status: 200,
  token,
  holder: holder(client),
});
const stored = (entries: Array<[number, string]>) =>
  new Map<number, StoreRecord>(entries.map(([t, c]) => [t, { createRevision: t, holder: holder(c) }]));

/** A resource fed `writes` in order: what it decided. */
function decided(writes: Array<[string, number]>): FencedResource {
  let t = 0;
  const r = new FencedResource(() => ++t);
  for (const [c, token] of writes) r.write(c, token);
  return r;
}

describe('the fenced resource', () => {
  it('accepts equal and higher tokens, refuses lower ones, and records both', () => {
    const r = decided([
      ['a', 5],
      ['a', 5],
      ['b', 9],
      ['a', 5],
      ['b', 9],
    ]);
    expect(r.writes.map((w) => w.accepted)).toEqual([true, true, true, false, true]);
    expect(r.writes[3]).toMatchObject({ client: 'a', token: 5, highest: 9 });
    expect(r.highest).toBe(9);
  });

  it('serves POST /write: 200 for a current token, 409 STALE_TOKEN for a stale one, 400 naming the fields', async () => {
    const r = new FencedResource();
    await r.listen('127.0.0.1');
    try {
      const post = (body: unknown) =>
        fetch(`${r.url}/write`, { method: 'POST', body: JSON.stringify(body) }).then(async (x) => ({
          status: x.status,
          body: (await x.json()) as { highest?: number; error?: { code: string; message: string } },
        }));
      expect(await post({ client: 'a', token: 7 })).toMatchObject({ status: 200, body: { highest: 7 } });
      expect(await post({ client: 'b', token: 3 })).toMatchObject({
        status: 409,
        body: { highest: 7, error: { code: 'STALE_TOKEN' } },
      });
      const bad = await post({ client: 'b', token: 'x' });
      expect(bad.status).toBe(400);
      expect(bad.body.error?.message).toContain('token');
      expect(r.writes.length).toBe(2);
    } finally {
      await r.close();
    }
  });
});

describe('the lock checker', () => {
  const events: LockEvent[] = [
    ok('a', 10, 0),
    { type: 'acquire', client: 'b', invokedAt: 1, returnedAt: 900, status: 409, code: 'MESHLET_LOCK_HELD' },
    ok('b', 14, 1000),
    { type: 'acquire', client: 'c', invokedAt: 2, returnedAt: 3, status: 503 },
    { type: 'write', client: 'a', token: 10, at: 2000, status: 409, late: true },
    { type: 'renew', client: 'b', token: 14, at: 1500, status: 200 },
    { type: 'renew', client: 'b', token: 14, at: 2500, status: 503, code: 'MESHLET_COORDINATION_UNAVAILABLE' },
  ];

  it('passes a history where fencing held, and counts the stale writes it refused', () => {
    const r = decided([
      ['a', 10],
      ['a', 10],
      ['b', 14],
      ['a', 10],
    ]);
    const v = checkLocks({
      events,
      writes: r.writes,
      store: stored([
        [10, 'a'],
        [14, 'b'],
      ]),
    });
    expect(v.violations).toEqual([]);
    expect(v).toMatchObject({
      acquires: 2,
      acquireAttempts: 4,
      held: 1,
      unavailable: 1,
      writesAccepted: 3,
      writesRefused: 1,
      honestRefused: 1,
      lateWrites: 1,
      storeChecked: 2,
      renewals: { ok: 1, lost: 0, doubt: 1 },
    });
  });

  it('finds two holders with the same token', () => {
    const v = checkLocks({ events: [ok('a', 10, 0), ok('b', 10, 50)], writes: [] });
    expect(v.violations).toEqual([expect.stringContaining('two holders with token 10: a')]);
  });

  it('finds a write accepted with a token below one accepted before (a resource without fencing)', () => {
    const writes = [
      { seq: 0, at: 1, client: 'b', token: 14, accepted: true, highest: 0 },
      { seq: 1, at: 2, client: 'a', token: 10, accepted: true, highest: 0 },
    ];
    const v = checkLocks({ events: [ok('a', 10, 0), ok('b', 14, 1)], writes });
    expect(v.violations).toEqual([expect.stringContaining('accepted with token 10 after token 14')]);
  });

  it('finds a current write refused, and an accepted write with a token never granted to its writer', () => {
    const writes = [
      { seq: 0, at: 1, client: 'a', token: 10, accepted: false, highest: 0 },
      { seq: 1, at: 2, client: 'c', token: 14, accepted: true, highest: 0 },
    ];
    const v = checkLocks({ events: [ok('a', 10, 0), ok('b', 14, 1)], writes });
    expect(v.violations).toEqual([
      expect.stringContaining('refused with token 10, current'),
      expect.stringContaining('token 14, never granted to it'),
    ]);
  });

  it('finds an acquire the store does not record, or records for another holder or at another revision', () => {
    const store = new Map<number, StoreRecord | undefined>([
      [10, undefined],
      [14, { createRevision: 14, holder: holder('z') }],
      [20, { createRevision: 19, holder: holder('c') }],
    ]);
    const v = checkLocks({ events: [ok('a', 10, 0), ok('b', 14, 1), ok('c', 20, 2)], writes: [], store });
    expect(v.violations).toEqual([
      expect.stringContaining('token 10 is not in the store'),
      expect.stringContaining('token 14: the store names'),
      expect.stringContaining('was created at 19'),
    ]);
  });

  it('reads a history file whose last line a kill tore', () => {
    const text = `${JSON.stringify(ok('a', 3, 0))}\n${JSON.stringify(ok('a', 4, 9))}\n{"type":"wri`;
    expect(parseHistory(text).map((e) => (e.type === 'acquire' ? e.token : 0))).toEqual([3, 4]);
  });
});

describe('the election checker', () => {
  const belief = (app: string, term: number, from: number, until: number): ElectionEvent => ({
    type: 'belief',
    app,
    term,
    from,
    until,
  });

  it('passes leaders one after another, a renewal extending a belief, an end cutting one short', () => {
    const b = beliefsOf([
      belief('a', 5, 0, 3000),
      belief('a', 5, 1000, 4000),
      { type: 'end', app: 'a', term: 5, at: 3500, why: 'resigned' },
      belief('b', 9, 3600, 6600),
      belief('c', 12, 10_000, 13_000),
    ]);
    expect(b.map((x) => [x.app, x.until])).toEqual([
      ['a', 3500],
      ['b', 6600],
      ['c', 13_000],
    ]);
    expect(checkElection(b, 3000)).toEqual({
      elections: 3,
      terms: [5, 9, 12],
      maxOverlapMs: 0,
      overlaps: [],
      violations: [],
    });
  });

  it('reports an overlap within the lease, and finds one beyond it', () => {
    const within = checkElection(beliefsOf([belief('a', 5, 0, 3000), belief('b', 9, 2000, 5000)]), 3000);
    expect(within).toMatchObject({
      maxOverlapMs: 1000,
      overlaps: ['a (term 5) and b (term 9): 1000 ms'],
      violations: [],
    });
    const beyond = checkElection(beliefsOf([belief('a', 5, 0, 9000), belief('b', 9, 2000, 5000)]), 2000);
    expect(beyond.violations).toEqual([expect.stringContaining('both believed they led for 3000 ms')]);
  });

  it('finds a term believed by two apps, and terms that do not increase', () => {
    const same = checkElection(beliefsOf([belief('a', 5, 0, 1000), belief('b', 5, 2000, 3000)]), 3000);
    expect(same.violations).toEqual([
      expect.stringContaining('term 5 believed by both a and b'),
      expect.stringContaining('not increasing'),
    ]);
    const down = checkElection(beliefsOf([belief('a', 9, 0, 1000), belief('b', 5, 2000, 3000)]), 3000);
    expect(down.violations).toEqual([expect.stringContaining('term 5 (b) elected after term 9 (a)')]);
  });
});
