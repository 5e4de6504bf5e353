import { beforeAll, describe, expect, it } from 'vitest';
import { getJson, httpRequest } from './harness/http.js';
import { type AgentHandle, type ControlPlaneHandle, agentTable, endpointIds, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

async function allSucceed(port: number, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const a = await httpRequest(port, 'http://hello/');
    expect(a.status).toBe(200);
    seen.add(String(a.headers['x-instance']));
  }
  return seen;
}

describe('the data path does not depend on the control plane', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;
  let client: AgentHandle;
  let agents: Record<string, AgentHandle>;

  beforeAll(async () => {
    ({ cp, client, agents } = await mesh.start({
      instances: { hello: ['hello-1', 'hello-2'] },
      client: { calls: ['hello'] },
    }));
  });

  let versionBefore = 0;

  it('keeps serving when the control plane stops', async () => {
    versionBefore = (await agentTable(client))?.version ?? 0;
    const exit = await cp.proc.stop('SIGTERM');
    expect(exit.code).toBe(0);
    await waitFor(
      'the client to notice',
      async () => (await getJson(client.adminPort, '/config')).controlPlane.connected === false,
    );
    expect(await allSucceed(client.outboundPort as number, 20)).toEqual(new Set(['hello-1', 'hello-2']));
    expect((await httpRequest(client.adminPort, '/ready')).status).toBe(200);
  });

  it('serves from the persisted table after an agent restart while the control plane is down', async () => {
    await client.proc.stop('SIGTERM');
    client = await mesh.agent({ agentId: 'client', cp, outbound: true, calls: ['hello'], reuse: client });
    const table = await agentTable(client);
    expect(table).toMatchObject({ version: versionBefore, source: 'disk' });
    // Its workload certificate too (kept in its data directory), so mTLS peers still accept its calls.
    expect((await getJson(client.adminPort, '/identity')).identity).toMatchObject({
      spiffeId: expect.stringMatching(/^spiffe:\/\//),
    });
    expect(await allSucceed(client.outboundPort as number, 20)).toEqual(new Set(['hello-1', 'hello-2']));
  });

  it('reconnects every agent and converges on a new version when the control plane is back', async () => {
    // With a startup grace period the restarted control plane waits for agents
    // to reconnect before it pushes, so no agent is sent a partial table.
    cp = await mesh.controlPlane({ push: { debounceMs: 10, maxDelayMs: 100, startupGraceMs: 1500 } }, cp.port);
    const converged = await waitFor(
      'every agent on one new version',
      async () => {
        const a = await getJson(cp.port, '/v1/agents');
        const connected = a.agents.filter((x: { connected: boolean }) => x.connected);
        const ok =
          connected.length === 3 &&
          a.agents.every((x: { ackedVersion: number | null }) => x.ackedVersion === a.tableVersion);
        return ok && a.tableVersion > versionBefore ? (a.tableVersion as number) : undefined;
      },
      { timeoutMs: 20_000 },
    );
    const table = await agentTable(client);
    expect(table).toMatchObject({ version: converged, source: 'control-plane' });
    expect(await endpointIds(client, 'hello')).toEqual(['hello-1', 'hello-2']);
    expect(await allSucceed(client.outboundPort as number, 10)).toEqual(new Set(['hello-1', 'hello-2']));
  });

  it('drops an agent that stops sending heartbeats, and takes it back when it resumes', async () => {
    const frozen = agents['hello-1'] as AgentHandle;
    frozen.proc.child.kill('SIGSTOP');
    try {
      await waitFor(
        'hello-1 to leave the table',
        async () => (await endpointIds(client, 'hello')).join() === 'hello-2',
        { timeoutMs: 10_000 },
      );
      const services = await getJson(cp.port, '/v1/services');
      const inst = services.services[0].instances.find((i: { id: string }) => i.id === 'hello-1');
      expect(inst).toMatchObject({ state: 'unhealthy' });
      expect(inst.reason).toContain('no heartbeat');
    } finally {
      frozen.proc.child.kill('SIGCONT');
    }
    await waitFor('hello-1 to come back', async () => (await endpointIds(client, 'hello')).length === 2, {
      timeoutMs: 10_000,
    });
  });
});
