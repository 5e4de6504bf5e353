import { setImmediate as turn } from 'node:timers/promises';
import { buildMaglevTable, type Endpoint, resolvePolicy } from '@meshlet/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { endpoint } from '../balancer/test-support/fixtures.js';
import { ServiceRuntime } from './service-runtime.js';

// Hash tables rebuilt outside a table install (an ejection by outlier
// detection, a route's subset asked for the first time) are built in slices
// that yield to the event loop, while requests are answered from what is in
// place: the attacks are a 655373-slot Maglev table rebuilt at once on the
// request path (40 to 130 ms of blocked event loop on this machine, see
// docs/security.md).

const BIG = 655_373;
const four = (): Endpoint[] =>
  ['e0', 'e1', 'e2', 'e3'].map((id, i) => endpoint(id, 1, { labels: { v: i < 2 ? '1' : '2' } }));

function runtime(size = BIG, endpoints = four()): ServiceRuntime {
  const policy = resolvePolicy({
    balancer: { kind: 'maglev', maglevTableSize: size },
    outlierDetection: { consecutiveFailures: 1, maxEjectionPercent: 50, baseEjectionMs: 600_000 },
  });
  let n = 0;
  return new ServiceRuntime('svc', { endpoints }, policy, {
    random: () => ((n = (n * 7 + 3) % 101) + 0.5) / 101,
    clock: () => 0,
    stats: new EndpointStatsMap(),
    zone: undefined,
  });
}

/** The member a table built at once over `ids` gives `hash`. */
function atOnce(ids: string[], size: number): (hash: number) => string {
  const t = buildMaglevTable(
    ids.map((id) => ({ id, weight: 1 })),
    size,
  );
  return (hash) => t.ids[t.entries[(hash >>> 0) % t.entries.length] as number] as string;
}

const hashes = Array.from({ length: 200 }, (_, i) => (i * 2654435761) >>> 0);

/** Counts 0 ms timers fired until stopped: the event loop's turns. */
function ticker() {
  let fired = 0;
  let on = true;
  const tick = () => {
    fired++;
    if (on) setTimeout(tick, 0);
  };
  setTimeout(tick, 0);
  return {
    get fired() {
      return fired;
    },
    stop: () => (on = false),
  };
}

/** Waits (bounded: 10000 turns) until `done()`, calling `during` on each turn meanwhile. */
async function until(done: () => boolean, during: () => void = () => undefined): Promise<void> {
  for (let i = 0; i < 10_000 && !done(); i++) {
    during();
    await turn();
  }
  expect(done()).toBe(true);
}

let open: ServiceRuntime[] = [];
afterEach(() => {
  for (const r of open) r.close();
  open = [];
});

describe('ServiceSelections: hash tables rebuilt outside an install', () => {
  it('an ejection from a 655373-slot Maglev service is built in slices: a timer fires during the build, and requests meanwhile are answered, never by the ejected endpoint', async () => {
    const r = runtime();
    open.push(r);
    const healthy = () => r.lb.describe()[0]?.healthy;
    expect(healthy()).toBe(4);
    const ticks = ticker();
    await until(() => ticks.fired > 0);
    r.outcome('e1', true);
    const atEjection = ticks.fired;
    const answered: string[] = [];
    await until(
      () => healthy() === 3,
      () => {
        for (const hash of hashes.slice(0, 20)) answered.push(r.lb.pick({ hash })?.id ?? 'none');
      },
    );
    // Built at once (before), the new table was in before any timer could fire.
    expect(ticks.fired).toBeGreaterThan(atEjection);
    ticks.stop();
    expect(answered.length).toBeGreaterThan(0);
    expect(answered.filter((id) => id === 'e1' || id === 'none')).toEqual([]);
    // In: the same picks as a table built at once over the three left.
    const expected = atOnce(['e0', 'e2', 'e3'], BIG);
    expect(hashes.map((hash) => r.lb.pick({ hash })?.id)).toEqual(hashes.map(expected));
  });

  it("a subset's first request is answered at once by a stand-in within the subset, and its table is built in slices", async () => {
    const r = runtime();
    open.push(r);
    const ticks = ticker();
    await until(() => ticks.fired > 0);
    const first = r.subsetLb({ v: '2' });
    const atRequest = ticks.fired;
    expect(first.size).toBe(2);
    const answered = hashes.map((hash) => first.pick({ hash })?.id);
    expect(new Set(answered)).toEqual(new Set(['e2', 'e3']));
    // The stand-in walks the service's table: the same key, the same endpoint meanwhile.
    expect(hashes.map((hash) => first.pick({ hash })?.id)).toEqual(answered);
    // A retry that tried one gets the other; both tried, none.
    expect(first.pick({ hash: 1, exclude: new Set(['e2']) })?.id).toBe('e3');
    expect(first.pick({ exclude: new Set(['e2', 'e3']) })).toBeUndefined();
    await until(() => r.subsetLb({ v: '2' }) !== first);
    expect(ticks.fired).toBeGreaterThan(atRequest);
    ticks.stop();
    const built = r.subsetLb({ v: '2' });
    expect(hashes.map((hash) => built.pick({ hash })?.id)).toEqual(hashes.map(atOnce(['e2', 'e3'], BIG)));
  });

  it('a later ejection while one builds takes over; the subsets get it too', async () => {
    const r = runtime();
    open.push(r);
    r.subsetLb({ v: '1' });
    await r.settled();
    r.outcome('e0', true);
    r.outcome('e2', true);
    const sub = r.subsetLb({ v: '1' });
    for (const hash of hashes) expect(['e1']).toContain(sub.pick({ hash })?.id);
    for (const hash of hashes) expect(['e1', 'e3']).toContain(r.lb.pick({ hash })?.id);
    await r.settled();
    expect(r.lb.describe()[0]?.healthy).toBe(2);
    expect(hashes.map((hash) => r.lb.pick({ hash })?.id)).toEqual(hashes.map(atOnce(['e1', 'e3'], BIG)));
    expect(hashes.map((hash) => sub.pick({ hash })?.id)).toEqual(hashes.map(() => 'e1'));
  });

  it('a new table while a rebuild runs drops it; small tables are still built at once', async () => {
    const r = runtime();
    open.push(r);
    r.outcome('e1', true);
    const moved = four().map((e) => (e.id === 'e3' ? { ...e, weight: 2 } : e));
    r.update({ endpoints: moved }, r.policy);
    // The new table's selection holds the ejection, builds it in slices, and is not replaced by the old build.
    const lb = r.lb;
    await r.settled();
    expect(r.lb).toBe(lb);
    expect(lb.describe()[0]?.healthy).toBe(3);

    const small = runtime(251);
    open.push(small);
    small.outcome('e1', true);
    expect(small.lb.held).toBeUndefined();
    expect(small.lb.describe()[0]?.healthy).toBe(3);
    expect(small.subsetLb({ v: '2' })).toBe(small.subsetLb({ v: '2' }));
  });
});

/** Turns of the event loop until `p` settles (bounded). */
async function turnsUntil(p: Promise<unknown>): Promise<number> {
  let done = false;
  void p.finally(() => {
    done = true;
  });
  let turns = 0;
  while (!done && turns < 100_000) {
    await turn();
    turns++;
  }
  return turns;
}

describe('rebuilds in slices after the service left', () => {
  it('stop at the next slice once the runtime is closed (a subset, an ejection)', async () => {
    // The same builds left to run: many slices.
    const open = runtime(
      BIG,
      Array.from({ length: 20 }, (_, i) => endpoint(`e${i}`, 1, { labels: { v: '1' } })),
    );
    open.subsetLb({ v: '1' });
    const whole = await turnsUntil(open.settled());
    open.close();
    expect(whole).toBeGreaterThan(4);

    const rt = runtime(
      BIG,
      Array.from({ length: 20 }, (_, i) => endpoint(`e${i}`, 1, { labels: { v: '1' } })),
    );
    rt.subsetLb({ v: '1' });
    await turn();
    rt.close();
    expect(await turnsUntil(rt.settled())).toBeLessThanOrEqual(2);

    const ejecting = runtime(
      BIG,
      Array.from({ length: 20 }, (_, i) => endpoint(`e${i}`, 1)),
    );
    ejecting.outcome('e0', true);
    expect([...ejecting.ejected]).toEqual(['e0']);
    await turn();
    ejecting.close();
    expect(await turnsUntil(ejecting.settled())).toBeLessThanOrEqual(2);
  }, 60_000);
});
