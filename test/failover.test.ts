import { beforeEach, describe, expect, it } from 'vitest';
import { getJson } from './harness/http.js';
import { requestLoop } from './harness/load.js';
import { type AgentHandle, type StartedMesh, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

type Mesh = StartedMesh & { client: AgentHandle };

/** Waits for the client's table to mark `gone` unhealthy (or drop it), then returns when the control plane recorded the client's ACK of it. */
async function ackOfTableWithout(mesh: Mesh, gone: string): Promise<{ version: number; ackedAt: number }> {
  const version = await waitFor(
    `${gone} to leave the client's table`,
    async () => {
      const t = (await getJson(mesh.client.adminPort, '/config')).table;
      const ids = t.services.hello.endpoints
        .filter((e: { health?: string }) => e.health === undefined)
        .map((e: { id: string }) => e.id);
      return ids.includes(gone) ? undefined : (t.version as number);
    },
    { timeoutMs: 10_000, intervalMs: 10 },
  );
  return waitFor('the control plane to record the ACK', async () => {
    const a = (await getJson(mesh.cp.port, '/v1/agents')).agents.find(
      (x: { agentId: string }) => x.agentId === 'client',
    );
    return a.ackedVersion >= version
      ? { version: a.ackedVersion as number, ackedAt: Date.parse(a.ackedAt) }
      : undefined;
  });
}

describe('kill -9 of one hello instance under a steady request loop', () => {
  const fresh = withMesh({ each: true });
  let mesh: Mesh;
  beforeEach(async () => {
    mesh = await fresh.start({ instances: { hello: ['hello-1', 'hello-2'] }, client: { calls: ['hello'] } });
  });

  for (const what of ['app', 'app and its agent'] as const) {
    it(`after detection every request goes to the survivor (kill -9 of the ${what})`, async () => {
      const loop = requestLoop(mesh.client.outboundPort as number, 'http://hello/', { workers: 2, maxMs: 30_000 });
      await waitFor('traffic on both instances', () => loop.result.byInstance.size === 2 && loop.result.sent > 50);

      const killedAt = Date.now();
      mesh.apps['hello-1']?.proc.child.kill('SIGKILL');
      if (what !== 'app') mesh.agents['hello-1']?.proc.child.kill('SIGKILL');
      const ack = await ackOfTableWithout(mesh, 'hello-1');
      const afterAck = Date.now();
      await waitFor('200 more requests after the new table', () => loop.sentSince(afterAck).length >= 200, {
        timeoutMs: 20_000,
      });
      const result = await loop.stop();

      const detectMs = ack.ackedAt - killedAt;
      console.log(
        `[failover: kill -9 of the ${what}] requests=${result.sent} failed=${result.failed} ` +
          `kill->client ACK of table v${ack.version}: ${detectMs} ms`,
      );
      for (const f of result.failures.slice(0, 5))
        console.log(`  failure +${f.at - killedAt} ms: ${f.status} ${f.detail}`);

      const after = loop.sentSince(afterAck);
      expect(after.every((r) => r.instance === 'hello-2')).toBe(true);
      // Requests that hit the dead instance before the table changed were
      // retried on the survivor (they never reached an app): none failed.
      expect(result.failed).toBe(0);
      expect(detectMs).toBeGreaterThan(0);
      expect(detectMs).toBeLessThan(10_000);
    });
  }
});
