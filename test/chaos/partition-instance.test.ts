import { describe, expect, it } from 'vitest';
import { waitFor } from '../harness/wait.js';
import { basicMesh } from './lib/basic-mesh.js';
import { PORTS } from './lib/chaos-mesh.js';
import { chaosSuite } from './lib/chaos-suite.js';
import { Faults } from './lib/faults.js';
import { LONG, pick, record, SCENARIO_TIMEOUT_MS } from './lib/figures.js';
import { failures, steadyLoad } from './lib/steady-load.js';

// One instance's host is cut off from its callers, but not from the control
// plane: its own health check passes and its agent keeps its stream, so only
// the callers see it fail. Their reports (a quorum of two callers) must mark
// it unhealthy, and no idempotent request may fail meanwhile.
describe('chaos: an instance partitioned from its callers, not from the control plane', () => {
  const { net, mesh } = chaosSuite();

  it(
    'is marked unhealthy by the callers quorum; no request fails',
    async () => {
      const m = await basicMesh(net, mesh);
      // At least this long, and until every caller has dropped it (awaited first, whatever it takes).
      const faultMs = pick(5_000, 60_000);
      const loads = m.callers.map((c) =>
        steadyLoad(c.host.ip, PORTS.outbound, 'hello', { rate: 50, maxMs: faultMs + 150_000 }),
      );
      await waitFor('some requests before the fault', () => loads.every((l) => l.samples.length >= 20));

      const victim = m.instances[1]!;
      const faults = new Faults(victim.host);
      const cut = Date.now();
      faults.partition(m.callers.map((c) => c.host));
      await m.callersSee(['hello-1', 'hello-3']);
      const detectionS = (Date.now() - cut) / 1000;
      await waitFor('the fault to have lasted', () => Date.now() - cut >= faultMs, { timeoutMs: faultMs + 1_000 });

      const healed = Date.now();
      faults.heal();
      await m.callersSee(undefined, 60_000);
      const recoveryS = (Date.now() - healed) / 1000;
      // Each caller's own outlier detection ejected it for baseEjectionMs (30 s) x its ejections: it is called
      // again when that ends, even though the control plane took it back at once (waited for in the long version).
      let servingS: number | undefined;
      if (LONG) {
        await waitFor(
          'hello-2 to serve again',
          () => loads.some((l) => l.samples.some((s) => s.at > healed && s.instance === 'hello-2')),
          { timeoutMs: 90_000 },
        );
        servingS = (Date.now() - healed) / 1000;
      }
      const samples = (await Promise.all(loads.map((l) => l.stop()))).flat();
      const failed = failures(samples);
      record({
        scenario: 'instance partitioned from its callers',
        mode: LONG ? 'long' : 'short',
        requests: samples.length,
        failed: failed.length,
        detectionS,
        recoveryS,
        note: `partition ${faultMs / 1000} s, 2 callers, 3 instances; back in the tables at recovery${servingS === undefined ? '' : `, called again after ${servingS.toFixed(1)} s (the callers' own ejections end)`}`,
      });
      expect(failed.slice(0, 5)).toEqual([]);
      expect(detectionS, 'seconds from the partition to every caller dropping it').toBeLessThan(15);
    },
    SCENARIO_TIMEOUT_MS,
  );
});
