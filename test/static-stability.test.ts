import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, httpRequest } from './harness/http.js';
import {
  type AgentHandle,
  type AppHandle,
  type ControlPlaneHandle,
  agentTable,
  endpointIds,
  Scratch,
  startAgent,
  startControlPlane,
  startDemoApp,
} from './harness/mesh.js';
import { killAll } from './harness/process.js';
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
  const scratch = new Scratch();
  let cp: ControlPlaneHandle;
  let client: AgentHandle;
  const agents: AgentHandle[] = [];
  const apps: AppHandle[] = [];

  beforeAll(async () => {
    cp = await startControlPlane(scratch);
    for (const id of ['hello-1', 'hello-2']) {
      const app = await startDemoApp('hello', id);
      apps.push(app);
      agents.push(await startAgent(scratch, { agentId: id, cp, instance: { service: 'hello', app } }));
    }
    client = await startAgent(scratch, { agentId: 'client', cp, outbound: true, calls: ['hello'] });
    await waitFor('the client to see both instances', async () => (await endpointIds(client, 'hello')).length === 2);
  });
  afterAll(async () => {
    await killAll();
    scratch.remove();
  });

  let versionBefore = 0;

  it('keeps serving when the control plane stops', async () => {
    versionBefore = (await agentTable(client))?.version ?? 0;
    const exit = await cp.proc.stop('SIGTERM');
    expect(exit.code).toBe(0);
    await waitFor('the client to notice', async () => (await getJson(client.adminPort, '/config')).controlPlane.connected === false);
    expect(await allSucceed(client.outboundPort as number, 20)).toEqual(new Set(['hello-1', 'hello-2']));
    expect((await httpRequest(client.adminPort, '/ready')).status).toBe(200);
  });

  it('serves from the persisted table after an agent restart while the control plane is down', async () => {
    await client.proc.stop('SIGTERM');
    client = await startAgent(scratch, { agentId: 'client', cp, outbound: true, calls: ['hello'], reuse: client });
    const table = await agentTable(client);
    expect(table).toMatchObject({ version: versionBefore, source: 'disk' });
    expect(await allSucceed(client.outboundPort as number, 20)).toEqual(new Set(['hello-1', 'hello-2']));
  });

  it('reconnects every agent and converges on a new version when the control plane is back', async () => {
    // With a startup grace period the restarted control plane waits for agents
    // to reconnect before it pushes, so no agent is sent a partial table.
    cp = await startControlPlane(scratch, { push: { debounceMs: 10, maxDelayMs: 100, startupGraceMs: 1500 } }, cp.port);
    const converged = await waitFor('every agent on one new version', async () => {
      const a = await getJson(cp.port, '/v1/agents');
      const connected = a.agents.filter((x: { connected: boolean }) => x.connected);
      const ok = connected.length === 3 && a.agents.every((x: { ackedVersion: number | null }) => x.ackedVersion === a.tableVersion);
      return ok && a.tableVersion > versionBefore ? (a.tableVersion as number) : undefined;
    }, { timeoutMs: 20_000 });
    const table = await agentTable(client);
    expect(table).toMatchObject({ version: converged, source: 'control-plane' });
    expect(await endpointIds(client, 'hello')).toEqual(['hello-1', 'hello-2']);
    expect(await allSucceed(client.outboundPort as number, 10)).toEqual(new Set(['hello-1', 'hello-2']));
  });

  it('drops an agent that stops sending heartbeats, and takes it back when it resumes', async () => {
    const frozen = agents[0] as AgentHandle;
    frozen.proc.child.kill('SIGSTOP');
    try {
      await waitFor('hello-1 to leave the table', async () => (await endpointIds(client, 'hello')).join() === 'hello-2', { timeoutMs: 10_000 });
      const services = await getJson(cp.port, '/v1/services');
      const inst = services.services[0].instances.find((i: { id: string }) => i.id === 'hello-1');
      expect(inst).toMatchObject({ state: 'unhealthy' });
      expect(inst.reason).toContain('no heartbeat');
    } finally {
      frozen.proc.child.kill('SIGCONT');
    }
    await waitFor('hello-1 to come back', async () => (await endpointIds(client, 'hello')).length === 2, { timeoutMs: 10_000 });
  });
});
