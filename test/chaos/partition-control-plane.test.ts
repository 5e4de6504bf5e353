import { describe, expect, it } from 'vitest';
import { waitFor } from '../harness/wait.js';
import { basicMesh } from './lib/basic-mesh.js';
import { agentGet, PORTS } from './lib/chaos-mesh.js';
import { chaosSuite } from './lib/chaos-suite.js';
import { Faults } from './lib/faults.js';
import { LONG, pick, record, SCENARIO_TIMEOUT_MS } from './lib/figures.js';
import { failures, steadyLoad } from './lib/steady-load.js';

// The control plane is cut off from every agent (60 s in the long version).
// The data path must not notice: agents keep serving from the tables they
// hold (static stability), and after the heal they rejoin and converge on
// the control plane's tables within seconds.
describe('chaos: the control plane partitioned from every agent', () => {
  const { net, mesh } = chaosSuite();

  it(
    'leaves the data path unaffected; agents rejoin and converge after the heal',
    async () => {
      const m = await basicMesh(net, mesh);
      const agents = [...m.instances.map((i) => i.agent), ...m.callers];
      const faultMs = pick(8_000, 60_000);
      const loads = m.callers.map((c) =>
        steadyLoad(c.host.ip, PORTS.outbound, 'hello', { rate: 50, maxMs: faultMs + 90_000 }),
      );
      await waitFor('some requests before the fault', () => loads.every((l) => l.samples.length >= 20));

      const faults = new Faults(m.cp.host);
      const cut = Date.now();
      faults.partition(agents.map((a) => a.host));
      const disconnected = async () =>
        (
          await Promise.all(agents.map(async (a) => (await agentGet(a, '/ready')).json().controlPlane?.connected))
        ).every((c) => c === false);
      await waitFor('every agent to see its stream gone', disconnected, { timeoutMs: 30_000 });
      const detectionS = (Date.now() - cut) / 1000;
      await waitFor('the fault to have lasted', () => Date.now() - cut >= faultMs, { timeoutMs: faultMs + 1_000 });
      const during = loads.flatMap((l) => l.samples.filter((s) => s.at >= cut));

      const healed = Date.now();
      faults.heal();
      await waitFor(
        'every agent to be connected again',
        async () => {
          const listed = (await mesh.admin(m.cp, '/v1/agents')).json().agents as Array<{
            agentId: string;
            connected: boolean;
          }>;
          return agents.every((a) => listed.some((l) => l.agentId === a.agentId && l.connected));
        },
        { timeoutMs: 60_000 },
      );
      // Converged: every agent holds the control plane's latest table for it, and every caller sees every instance.
      const receivedAt = async (a: (typeof agents)[number]) =>
        Date.parse(String((await agentGet(a, '/config')).json().table?.receivedAt));
      await waitFor(
        'every agent to hold a table from the control plane after the heal',
        async () => (await Promise.all(agents.map(receivedAt))).every((at) => at >= healed),
        { timeoutMs: 30_000 },
      );
      await m.callersSee();
      const recoveryS = (Date.now() - healed) / 1000;
      await waitFor('some requests after the heal', () =>
        loads.every((l) => l.samples.some((s) => s.at > Date.now() - 500)),
      );
      const samples = (await Promise.all(loads.map((l) => l.stop()))).flat();
      const failed = failures(samples);
      const spread = new Set(during.map((s) => s.instance));
      record({
        scenario: 'control plane partitioned from every agent',
        mode: LONG ? 'long' : 'short',
        requests: samples.length,
        failed: failed.length,
        detectionS,
        recoveryS,
        note: `partition ${faultMs / 1000} s; during it ${during.length} requests over ${[...spread].sort().join(', ')}; recovery = heal to every agent reconnected with a new table`,
      });
      expect(failed.slice(0, 5)).toEqual([]);
      expect(recoveryS, 'seconds from the heal to every agent reconnected with a new table').toBeLessThan(10);
      expect([...spread].sort()).toEqual(['hello-1', 'hello-2', 'hello-3']);
    },
    SCENARIO_TIMEOUT_MS,
  );
});
