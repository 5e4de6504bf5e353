import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificateFingerprint } from '@meshlet/shared/identity';
import { beforeAll, describe, expect, it } from 'vitest';
import { getJson, httpRequest } from './harness/http.js';
import { requestLoop } from './harness/load.js';
import { type AgentHandle, type ControlPlaneHandle, endpointIds, withMesh } from './harness/mesh.js';
import { meshctl } from './harness/meshctl.js';
import { waitFor } from './harness/wait.js';

// A root rotation through `meshctl ca rotate` on real agents under a steady
// request loop: the new root reaches every trust bundle before anything is
// signed under it, every agent renews from the new issuer, the old root
// leaves, and no request fails on the way.

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const fingerprints = (pem: string): string[] => (pem.match(PEM) ?? []).map((c) => certificateFingerprint(c));

/** The agent's certificate issuer and trust bundle roots, from its admin `/identity`. */
async function identityOf(agent: AgentHandle): Promise<{ issuer: string; roots: string[] }> {
  const { identity } = await getJson(agent.adminPort, '/identity');
  return {
    issuer: fingerprints(identity.certChainPem as string)[1] as string,
    roots: fingerprints(identity.trustBundlePem),
  };
}

describe('root rotation through meshctl ca rotate', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;
  let client: AgentHandle;
  let hello: AgentHandle[];
  const home = mkdtempSync(join(tmpdir(), 'meshctl-home-'));
  const run = (...args: string[]) => meshctl(args, { env: { MESHCTL_SERVER: cp.url }, home });

  beforeAll(async () => {
    // The agents reconnect within 500 ms (the harness's controlPlane.reconnectMaxDelayMs): the control plane,
    // told so, waits that after its start before it moves a rotation on, not 5 s.
    cp = await mesh.controlPlane({ identity: { ca: { agentReconnectMaxDelayMs: 500 } } });
    hello = [(await mesh.instance(cp, 'hello', 'hello-1')).agent, (await mesh.instance(cp, 'hello', 'hello-2')).agent];
    client = await mesh.agent({ agentId: 'client', cp, outbound: true, calls: ['hello'] });
    await waitFor(
      'the client to see both hello instances',
      async () => (await endpointIds(client, 'hello')).length === 2,
    );
  });

  it('adds the new root, switches the issuer and removes the old root with zero failed requests', async () => {
    const agents = [client, ...hello];
    const before = await getJson(cp.port, '/v1/ca');
    expect(before.step).toBe('none');
    const oldRoot = before.roots[0].fingerprint as string;
    const oldIssuer = before.activeIssuer as string;
    for (const a of agents) expect(await identityOf(a)).toEqual({ issuer: oldIssuer, roots: [oldRoot] });

    const load = requestLoop(client.outboundPort as number, 'http://hello/', { workers: 2, maxMs: 60_000 });
    let result: Awaited<ReturnType<typeof load.stop>>;
    let rotated;
    try {
      await waitFor('the loop to be served', async () => load.sentSince(0).length > 20);
      rotated = await run('ca', 'rotate', '--wait', '25s');
      // A little more traffic on the final state, new connections included.
      const at = Date.now();
      await waitFor('more requests after the rotation', async () => load.sentSince(at).length > 50);
    } finally {
      result = await load.stop();
    }
    console.log(`[ca rotation] ${result.sent} requests, ${result.failed} failed\n${rotated.stderr}`);
    // meshctl prints the steps it sees polling once a second (a short step may pass between two looks)...
    expect(rotated.stderr).toContain('step 1/3 adding-root');
    expect(rotated.stdout).toContain('root rotation done');
    // ...the control plane logs every one, in order.
    const steps = [
      'root rotation started',
      'root rotation: signing with the new issuer',
      'root rotation: removing the old root',
      'root rotation: done',
    ];
    const at = steps.map((line) => cp.proc.output.indexOf(line));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(rotated.code).toBe(0);
    expect(result.failures).toEqual([]);

    const after = await getJson(cp.port, '/v1/ca');
    expect(after).toMatchObject({ step: 'done', generation: 3, agents: { behind: [] } });
    expect(after.roots).toHaveLength(1);
    const newRoot = after.roots[0].fingerprint as string;
    expect(newRoot).not.toBe(oldRoot);
    expect(after.activeIssuer).not.toBe(oldIssuer);
    // Every agent holds a certificate from the new issuer and trusts only the new root.
    for (const a of agents) expect(await identityOf(a)).toEqual({ issuer: after.activeIssuer, roots: [newRoot] });

    const status = await run('ca', 'status');
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('done: the new root is the only one');
    expect(status.stdout).toContain('no agent behind (3 connected)');
    expect(
      (await httpRequest(client.outboundPort as number, 'http://hello/', { headers: { connection: 'close' } })).status,
    ).toBe(200);
  });

  it('refuses a second rotation while one is under way, and says how to follow it', async () => {
    const first = await run('ca', 'rotate', '--no-wait');
    expect(first.code).toBe(0);
    const second = await run('ca', 'rotate', '--no-wait');
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('a root rotation is under way');
    expect(second.stderr).toContain('meshctl ca status');
    await waitFor('the second rotation to finish', async () => (await getJson(cp.port, '/v1/ca')).step === 'done', {
      timeoutMs: 30_000,
    });
  });
});
