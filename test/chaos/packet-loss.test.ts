import { describe, expect, it } from 'vitest';
import { waitFor } from '../harness/wait.js';
import { basicMesh } from './lib/basic-mesh.js';
import { PORTS } from './lib/chaos-mesh.js';
import { chaosSuite } from './lib/chaos-suite.js';
import { Faults } from './lib/faults.js';
import { LONG, pick, record, SCENARIO_TIMEOUT_MS } from './lib/figures.js';
import { failures, quantile, steadyLoad } from './lib/steady-load.js';

// 20% of the packets between the callers and one instance are lost, each
// way (nftables `numgen random mod 100 < 20 drop` in the instance's
// namespace). TCP retransmits, connections stall and time out; outlier
// detection and retries must keep the success rate of idempotent requests
// at 99.9% or better.
describe('chaos: 20% packet loss between the callers and one instance', () => {
  const { net, mesh } = chaosSuite();

  it(
    'keeps the success rate of idempotent requests at 99.9% or better',
    async () => {
      const m = await basicMesh(net, mesh);
      const faultMs = pick(12_000, 120_000);
      const loads = m.callers.map((c) =>
        steadyLoad(c.host.ip, PORTS.outbound, 'hello', { rate: 50, maxMs: faultMs + 60_000 }),
      );
      await waitFor('some requests before the fault', () => loads.every((l) => l.samples.length >= 20));

      const faults = new Faults(m.instances[1]!.host);
      const start = Date.now();
      faults.loss(
        m.callers.map((c) => c.host),
        20,
      );
      await waitFor('the fault to have lasted', () => Date.now() - start >= faultMs, { timeoutMs: faultMs + 1_000 });
      const dropped = faults.dropped();
      faults.heal();
      const end = Date.now();
      const samples = (await Promise.all(loads.map((l) => l.stop()))).flat();
      const during = samples.filter((s) => s.at >= start && s.at < end);
      const failed = failures(samples);
      const success = 1 - failures(during).length / during.length;
      const toVictim = during.filter((s) => s.instance === 'hello-2').length;
      record({
        scenario: '20% packet loss to one instance',
        mode: LONG ? 'long' : 'short',
        requests: samples.length,
        failed: failed.length,
        note: `${faultMs / 1000} s of loss: success ${(success * 100).toFixed(2)}% of ${during.length}, p50 ${quantile(during, 0.5)} ms, p99 ${quantile(during, 0.99)} ms, ${toVictim} answered by the lossy instance, ${dropped} packets dropped`,
      });
      expect(dropped, 'packets the loss rules dropped').toBeGreaterThan(0);
      expect(success).toBeGreaterThanOrEqual(0.999);
    },
    SCENARIO_TIMEOUT_MS,
  );
});
