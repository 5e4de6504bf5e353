import { setTimeout as pause } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { basicMesh } from './lib/basic-mesh.js';
import { footprint, PORTS } from './lib/chaos-mesh.js';
import { chaosSuite } from './lib/chaos-suite.js';
import { LONG, pick, record, SCENARIO_TIMEOUT_MS } from './lib/figures.js';
import { failures, steadyLoad } from './lib/steady-load.js';
import { waitFor } from '../harness/wait.js';

// A steady rate for a long time (10 minutes in the long version) while the
// instances flap (one turns unhealthy, then back, every 30 s: tables, rings
// and pools churn). Memory must not grow (RSS of every agent and of the
// control plane within 10% of what it was after a warm-up) and no file
// descriptor may leak.
describe('chaos: a soak at a steady rate with instances flapping', () => {
  const { net, mesh } = chaosSuite();

  it(
    'keeps RSS growth under 10% and leaks no file descriptors',
    async () => {
      const m = await basicMesh(net, mesh);
      // Short: 4 flaps (one in the warm-up, three in the soak), an instance 2 s unhealthy then 2 s back (health checks
      // every 100 ms mark it in about 0.3 s). It was 8 s + 20 s with 6 s flaps (4 whole flaps and 2 cut short): 47.7 s.
      const soakMs = pick(12_000, 600_000);
      const flapMs = pick(4_000, 30_000);
      const warmMs = pick(4_000, 60_000);
      const watched = [
        { name: 'control plane', proc: () => m.cp.proc },
        ...m.instances.map((i) => ({ name: `${i.id} agent`, proc: () => i.agent.proc })),
        ...m.callers.map((c) => ({ name: `${c.agentId} agent`, proc: () => c.proc })),
      ];
      const load = (ms: number) =>
        m.callers.map((c) => steadyLoad(c.host.ip, PORTS.outbound, 'hello', { rate: 100, maxMs: ms + 30_000 }));
      const flap = async (untilMs: number) => {
        for (let n = 0; Date.now() < untilMs; n++) {
          const app = m.instances[n % m.instances.length]!.app;
          await mesh.fault(app, 'unhealthy');
          await pause(Math.min(flapMs / 2, Math.max(0, untilMs - Date.now())));
          await mesh.fault(app, 'none');
          await pause(Math.min(flapMs / 2, Math.max(0, untilMs - Date.now())));
        }
      };
      // File descriptors are counted at rest (load stopped, idle keep-alive connections closed, every instance back), so that
      // connections open at one moment and not the other do not count as leaks.
      const atRest = async () => {
        await m.callersSee();
        await pause(5_000); // the pools' idle timeout (timeouts.idleMs, 4 s): the clock, not a condition
        return waitFor('file descriptors to settle', async () => {
          const a = watched.map((w) => footprint(w.proc()));
          await pause(1_000);
          const b = watched.map((w) => footprint(w.proc()));
          return a.every((f, i) => f.fds === b[i]!.fds) && b;
        });
      };
      // Warm-up: the same load and flapping as the soak, so that what is measured after it is the steady state.
      const warm = load(warmMs);
      await flap(Date.now() + warmMs);
      const warmSamples = await Promise.all(warm.map((l) => l.stop()));
      const before = await atRest();
      const soak = load(soakMs);
      // RSS follows V8's collections up and down by a third (a compaction returns 30 MB at once, and RSS climbs back
      // to where the live set keeps it), so one reading against another says little, nor do floors (an early
      // compaction's trough against the plateau). What a leak raises is the ceiling: growth is the highest reading
      // of the second half over the highest of the first (the means of the first and last quarters are recorded).
      const rss: number[][] = [];
      const sampling = (async () => {
        for (const end = Date.now() + soakMs; Date.now() < end; await pause(pick(1_000, 5_000)))
          rss.push(watched.map((w) => footprint(w.proc()).rssMb));
      })();
      await flap(Date.now() + soakMs);
      await sampling;
      const samples = [...warmSamples, ...(await Promise.all(soak.map((l) => l.stop())))].flat();
      const after = await atRest();
      const quarter = Math.max(1, Math.floor(rss.length / 4));
      const mean = (rows: number[][], i: number) => rows.reduce((n, r) => n + r[i]!, 0) / rows.length;
      const ceiling = (rows: number[][], i: number) => Math.max(...rows.map((r) => r[i]!));
      const half = Math.max(1, Math.floor(rss.length / 2));
      const first = watched.map((_, i) => mean(rss.slice(0, quarter), i));
      const last = watched.map((_, i) => mean(rss.slice(-quarter), i));
      const growth = watched.map((w, i) => ({
        name: w.name,
        rss: ceiling(rss.slice(half), i) / ceiling(rss.slice(0, half), i) - 1,
        meanRss: last[i]! / first[i]! - 1,
        fds: after[i]!.fds - before[i]!.fds,
      }));
      const worst = growth.reduce((a, b) => (b.rss > a.rss ? b : a));
      const sum = (xs: number[]) => xs.reduce((n, v) => n + v, 0);
      record({
        scenario: 'soak with instances flapping',
        mode: LONG ? 'long' : 'short',
        requests: samples.length,
        failed: failures(samples).length,
        rssBeforeMb: sum(first),
        rssAfterMb: sum(last),
        note: `${soakMs / 1000} s after a ${warmMs / 1000} s warm-up, one instance unhealthy then back every ${flapMs / 1000} s; RSS of 6 processes summed, mean of the first and of the last quarter of ${rss.length} readings; most growth of the ceiling (highest reading of a half) ${worst.name} ${(worst.rss * 100).toFixed(1)}% (of its mean ${(worst.meanRss * 100).toFixed(1)}%), most growth of a mean ${Math.max(...growth.map((g) => g.meanRss * 100)).toFixed(1)}%; fds at rest ${growth.map((g) => `${g.fds >= 0 ? '+' : ''}${g.fds}`).join(' ')}`,
      });
      expect(failures(samples).slice(0, 5)).toEqual([]);
      for (const g of growth) {
        // The short version's 20 s hold too few collections to judge: recorded, not asserted.
        if (LONG) expect(g.rss, `${g.name} RSS growth`).toBeLessThan(0.1);
        expect(g.fds, `${g.name} file descriptors`).toBeLessThanOrEqual(0);
      }
    },
    SCENARIO_TIMEOUT_MS,
  );
});
