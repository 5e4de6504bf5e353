import { createServer, type Server, type Socket, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, httpRequest } from './harness/http.js';
import { mintJoinCredential } from './harness/join-credential.js';
import { requestLoop } from './harness/load.js';
import { type AgentHandle, type ControlPlaneHandle, endpointIds, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// Workload certificates with short lives on real agents under a steady
// request loop: leaves renew again and again with no failed request, and an
// agent cut off from the control plane until its certificate expires is
// refused by its peers, then recovers when it reconnects.

const TTL_S = 6;

/** The serial number of the certificate an agent holds now, from its admin `/identity`. */
async function serialOf(agent: AgentHandle): Promise<string | undefined> {
  const a = await httpRequest(agent.adminPort, '/identity');
  if (a.status !== 200) return undefined;
  const chain = a.json().identity?.certChainPem as string | undefined;
  return chain?.slice(0, 200);
}

/** A TCP relay to the control plane that the test can cut (every connection closed, new ones refused) and restore. */
class CuttableLink {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #open = true;
  port = 0;

  constructor(target: number) {
    this.#server = createServer((client) => {
      if (!this.#open) return client.destroy();
      const upstream = connect(target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.port = (this.#server.address() as { port: number }).port;
  }

  cut(): void {
    this.#open = false;
    for (const s of this.#sockets) s.destroy();
  }

  restore(): void {
    this.#open = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

describe('short-lived workload certificates under load', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;
  let client: AgentHandle;
  let hello: AgentHandle[];
  const link = new CuttableLink(0);

  beforeAll(async () => {
    cp = await mesh.controlPlane({ identity: { certificateTtl: `${TTL_S}s` } });
    hello = [(await mesh.instance(cp, 'hello', 'hello-1')).agent, (await mesh.instance(cp, 'hello', 'hello-2')).agent];
    client = await mesh.agent({ agentId: 'client', cp, outbound: true, calls: ['hello'] });
    await waitFor(
      'the client to see both hello instances',
      async () => (await endpointIds(client, 'hello')).length === 2,
    );
  });

  afterAll(async () => {
    await link.close();
  });

  it(`rotates ${TTL_S} s leaves several times on every agent with zero failed requests`, async () => {
    const agents = [client, ...hello];
    const seen = new Map<string, Set<string>>(agents.map((a) => [a.agentId, new Set<string>()]));
    const load = requestLoop(client.outboundPort as number, 'http://hello/', { workers: 2, maxMs: 60_000 });
    let result: Awaited<ReturnType<typeof load.stop>>;
    try {
      await waitFor(
        'four certificates (three renewals) on every agent',
        async () => {
          for (const a of agents) {
            const serial = await serialOf(a);
            if (serial) seen.get(a.agentId)?.add(serial);
          }
          return [...seen.values()].every((s) => s.size >= 4);
        },
        { timeoutMs: 40_000, intervalMs: 250 },
      );
    } finally {
      // A timeout must stop the loop too, or it keeps calling into the next test.
      result = await load.stop();
    }
    console.log(
      `[rotation] ${result.sent} requests, ${result.failed} failed; certificates seen: ${[...seen].map(([id, s]) => `${id} ${s.size}`).join(', ')}`,
    );
    expect(result.failures).toEqual([]);
    expect(result.sent).toBeGreaterThan(100);
  });

  /** An agent of service `name` that reaches the control plane through `relay`, served by hello. */
  async function startIsland(name: string, relay: CuttableLink): Promise<AgentHandle> {
    const token = await mintJoinCredential(cp, name);
    const agent = await mesh.agent({
      agentId: name,
      cps: [{ streamUrl: `ws://127.0.0.1:${relay.port}/v1/stream` }],
      joinToken: token,
      service: name,
      outbound: true,
      calls: ['hello'],
    });
    await waitFor(`${name} to see hello`, async () => (await endpointIds(agent, 'hello')).length === 2);
    expect((await httpRequest(agent.outboundPort as number, 'http://hello/')).status).toBe(200);
    return agent;
  }

  /**
   * Cuts `relay` and waits until `agent` knows it; then the expiry of the certificate it holds (read after the cut:
   * a renewal just before it would otherwise move the expiry the test waits for).
   */
  async function cutOff(agent: AgentHandle, relay: CuttableLink): Promise<number> {
    relay.cut();
    await waitFor(
      `${agent.agentId} to notice it is cut off`,
      async () => !(await getJson(agent.adminPort, '/config')).controlPlane.connected,
    );
    return Date.parse((await getJson(agent.adminPort, '/identity')).identity.notAfter as string);
  }

  it('an agent cut off from the control plane until its certificate expires can no longer call its peers, says why, and recovers when it reconnects', async () => {
    const target = Number(new URL(cp.url).port);
    const relay = new CuttableLink(target);
    await relay.listen();
    try {
      const island = await startIsland('island', relay);
      const notAfter = await cutOff(island, relay);
      // Past the expiry (whole seconds, plus the peers' clock): every new connection is refused by the callee.
      await waitFor('island’s certificate to expire', async () => Date.now() > notAfter + 1500, { timeoutMs: 20_000 });
      const refused = await httpRequest(island.outboundPort as number, 'http://hello/', {
        headers: { connection: 'close' },
      });
      // It does not offer its expired certificate (peers would refuse it: test/identity-mtls.test.ts "a callee refuses a
      // caller whose certificate has expired"), nor ride a pooled connection made with it (dropped at the expiry), and
      // says why, blaming no endpoint.
      expect(refused.status).toBe(503);
      expect(refused.body).toContain('MESHLET_IDENTITY_UNAVAILABLE');
      expect(refused.body).toContain('workload certificate expired');
      // The healthy mesh is untouched.
      expect((await httpRequest(client.outboundPort as number, 'http://hello/')).status).toBe(200);

      relay.restore();
      await waitFor(
        'island to reconnect, get a new certificate and be served again',
        async () => (await httpRequest(island.outboundPort as number, 'http://hello/')).status === 200,
        { timeoutMs: 30_000, intervalMs: 250 },
      );
    } finally {
      await relay.close();
    }
  });

  it('an agent that keeps calling without a pause while its certificate expires stops being served at the expiry', async () => {
    // Keep-alive connections were checked once, in the handshake: a caller sending without a pause would keep its
    // pooled connections, and its peers would serve it, past its certificate's expiry. Now the caller drops them
    // and the callee closes them when the certificate expires.
    const relay = new CuttableLink(Number(new URL(cp.url).port));
    await relay.listen();
    try {
      const busy = await startIsland('busy', relay);
      const load = requestLoop(busy.outboundPort as number, 'http://hello/', { workers: 2, maxMs: 30_000 });
      let result: Awaited<ReturnType<typeof load.stop>>;
      let servedAfter: Array<{ at: number }>;
      let notAfter = 0;
      try {
        notAfter = await cutOff(busy, relay);
        await waitFor('busy’s certificate to expire under load', async () => Date.now() > notAfter + 2000, {
          timeoutMs: 20_000,
        });
        servedAfter = load.sentSince(notAfter + 500);
      } finally {
        result = await load.stop();
      }
      console.log(`[expiry under load] ${result.sent} requests, ${result.failed} failed`);
      expect(result.sent - result.failed).toBeGreaterThan(10);
      expect(servedAfter).toEqual([]);
      const late = result.failures.filter((f) => f.at > notAfter + 500);
      expect(late.length).toBeGreaterThan(0);
      for (const f of late) expect(f.detail).toContain('MESHLET_IDENTITY_UNAVAILABLE');
    } finally {
      await relay.close();
    }
  });
});
