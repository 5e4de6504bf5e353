import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN } from '../harness/admin-api.js';
import { type ControlPlaneHandle, Scratch } from '../harness/mesh.js';
import { meshctl } from '../harness/meshctl.js';
import { killAll } from '../harness/process.js';
import { waitFor } from '../harness/wait.js';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { type EchoApp, echoApp } from '../tcp/tcp-apps.js';
import {
  type DbInstance,
  failoverOf,
  startDbInstance,
  startFailoverControlPlane,
  startWriterAgent,
} from './failover-mesh.js';

// Managed failover end to end: a real control plane, real agents with exec checks reading a fake
// database's state file (fake-db-ctl.mjs is its promote, demote and rejoin), short lease (1 s).
// One story, each step waiting on the state the control plane publishes: bootstrap on the sitting
// primary, a switchover through meshctl, kill -9 of the primary's agent, its return (rejoin), and a
// failing primary check.

const scratch = new Scratch();
let cp: ControlPlaneHandle;
let pg1: DbInstance;
let pg2: DbInstance;
const apps: EchoApp[] = [];
let writerPort: number;

/** A connection through the writer's `role: primary` port, and the instance that answers `who` on it. */
async function whoIsPrimary(): Promise<{ socket: Socket; who: string }> {
  const socket = connect(writerPort, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write('who\n');
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  return { socket, who: chunk.toString('utf8').trim() };
}

const state = async () => (await failoverOf(cp)).state;
let last: unknown;
const published = (primary: string, above = 0) =>
  waitFor(`${primary} published as primary above term ${above}`, async () => {
    const f = await failoverOf(cp);
    last = f;
    const s = f.state;
    return s?.primary === primary && s.term > above ? (s as { term: number; primary: string }) : undefined;
  }).catch((e: Error) => {
    throw new Error(`${e.message}; the failover was ${JSON.stringify(last)}`);
  });

beforeAll(async () => {
  cp = await startFailoverControlPlane(scratch);
  // The primary first: a standby that comes up more than leaseMs before any primary reports may be promoted
  // (the bootstrap hold of databases.md), as with any HA manager started before its primary.
  apps.push(await echoApp('pg-1'), await echoApp('pg-2'));
  pg1 = await startDbInstance(scratch, cp, 'pg-1', 'primary 100', apps[0]?.port);
  pg2 = await startDbInstance(scratch, cp, 'pg-2', 'replica 100', apps[1]?.port);
  writerPort = (await startWriterAgent(scratch, cp)).port;
}, 60_000);

afterAll(async () => {
  await killAll();
  for (const app of apps) await app.close();
  scratch.remove();
});

describe('managed failover (real control plane and agents, fake database)', () => {
  let term = 0;

  it('bootstraps on the sitting primary: its agent takes the first term without a promote', async () => {
    term = (await published('pg-1')).term;
    expect(pg1.commands()).toEqual([]);
    expect((await state()).candidates).toEqual(['pg-2']);
  });

  it('switchover via meshctl: the primary demotes and resigns, the target promotes with a newer term, the old one rejoins', async () => {
    // A writer's connection to the primary, through its agent's role: primary port (TCP, mTLS between agents).
    const before = await waitFor('a primary connection', () => whoIsPrimary().catch(() => undefined));
    expect(before.who).toBe('pg-1');
    const closed = once(before.socket, 'close');
    const run = await meshctl(['switchover', 'pg', '--to', 'pg-2'], {
      env: { MESHCTL_SERVER: cp.url, MESHCTL_TOKEN: ADMIN },
      home: scratch.dir,
    });
    expect(run.stderr).toMatch(/pg-2 is the primary of term/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/pg-2\s+primary/);
    const now = await published('pg-2', term);
    expect(pg1.commands()[0]).toMatchObject({ action: 'demote', term });
    expect(pg2.commands()).toEqual([
      { action: 'promote', instance: 'pg-2', service: 'pg', term: now.term, primary: 'pg-2' },
    ]);
    await waitFor('pg-1 rejoined', () => pg1.commands().some((c) => c.action === 'rejoin'));
    expect(pg1.commands().at(-1)).toMatchObject({ action: 'rejoin', term: now.term, primary: 'pg-2' });
    const steps = (await failoverOf(cp)).events.map((e: any) => e.evidence.step);
    expect(steps).toEqual(expect.arrayContaining(['switchover-requested', 'switchover-completed']));
    // The old primary's connection was closed: its own agent fenced it (the callee side, before the term changed);
    // a new one reaches the new primary.
    await closed;
    const metrics = await (await fetch(`http://127.0.0.1:${pg1.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/meshlet_agent_tcp_closes_total\{direction="inbound",service="pg",reason="fenced"\} [1-9]/);
    const after = await waitFor('a connection to pg-2', async () => {
      const c = await whoIsPrimary().catch(() => undefined);
      if (c?.who === 'pg-2') return c;
      c?.socket.destroy();
      return undefined;
    });
    after.socket.destroy();
    term = now.term;
  });

  it("kill -9 of the primary's agent: the standby's agent wins within the lease, promotes, and is published with a higher term", async () => {
    await waitFor('pg-1 a candidate again', async () => (await state()).candidates.includes('pg-1'));
    pg2.agent.child.kill('SIGKILL');
    await pg2.agent.exited();
    const now = await published('pg-1', term);
    expect(pg1.commands().at(-1)).toMatchObject({ action: 'promote', term: now.term });
    expect(pg2.role()).toBe('primary 100'); // its database still runs as a primary: only its agent died
    const began = (await failoverOf(cp)).events.find(
      (e: any) => e.evidence.step === 'term-began' && e.evidence.term === now.term,
    );
    expect(began.evidence.cause).toMatch(/lease lapsed/);
    term = now.term;
  });

  it('the old primary, its agent back, sees the newer term and runs rejoin; it is routed as a replica then', async () => {
    await pg2.restart();
    await waitFor('pg-2 rejoined', () => pg2.commands().some((c) => c.action === 'rejoin'));
    expect(pg2.commands().at(-1)).toMatchObject({ action: 'rejoin', term, primary: 'pg-1' });
    expect(pg2.role()).toBe('replica 100');
    await waitFor('pg-2 a candidate', async () => (await state()).candidates.includes('pg-2'));
    expect((await state()).primary).toBe('pg-1');
  });

  it("the primary's check failing: its agent demotes and resigns, the standby takes over at once", async () => {
    pg1.set(undefined); // its database is down: the check fails
    const now = await published('pg-2', term);
    expect(pg1.commands()).toContainEqual(expect.objectContaining({ action: 'demote', term }));
    expect(pg2.commands().at(-1)).toMatchObject({ action: 'promote', term: now.term });
    const began = (await failoverOf(cp)).events.find(
      (e: any) => e.evidence.step === 'term-began' && e.evidence.term === now.term,
    );
    // Its agent resigned, or the control plane freed it first for the instance being unhealthy: either ends the term.
    expect(began.evidence.cause).toMatch(/resigned|unhealthy/);
  });
});
