import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../harness/admin-api.js';
import { httpRequest } from '../harness/http.js';
import { agentTable, type AgentHandle, type ControlPlaneHandle, withMesh } from '../harness/mesh.js';
import { type PostgresInstance, startPostgresPrimary, startPostgresStandby } from '../harness/postgres.js';
import { waitFor } from '../harness/wait.js';

// Real agents beside a real PostgreSQL primary and standby (`kind: postgres`),
// and beside HTTP apps answering Patroni's /primary and /replica: the
// control plane records what the checks say, and the tables follow it.

interface InstanceView {
  id: string;
  state: string;
  reason: string;
  role: string | null;
  replicationOffset: number | null;
}

async function instances(cp: ControlPlaneHandle): Promise<Record<string, InstanceView>> {
  const items = (await api(cp, 'GET', '/v1/instances', undefined, null)).body.items as InstanceView[];
  return Object.fromEntries(items.map((i) => [i.id, i]));
}

type TableEndpoint = { id: string; role?: string; labels?: Record<string, string>; health?: string };
async function endpoints(agent: AgentHandle, service: string): Promise<Record<string, TableEndpoint>> {
  const t = await agentTable(agent);
  const list = (t?.services[service]?.endpoints ?? []) as TableEndpoint[];
  return Object.fromEntries(list.map((e) => [e.id, e]));
}

/** An HTTP app that answers Patroni's way for the role it is given, and its name in x-instance otherwise. */
function roleApp(name: string): { server: Server; port: () => number; role: 'primary' | 'replica' } {
  const app = {
    role: 'replica' as 'primary' | 'replica',
    server: createServer((req, res) => {
      if (req.url === '/primary' || req.url === '/replica') res.writeHead(req.url === `/${app.role}` ? 200 : 503).end();
      else res.writeHead(200, { 'x-instance': name }).end(name);
    }),
    port: () => (app.server.address() as AddressInfo).port,
  };
  return app;
}

describe('role-aware checks', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;
  let client: AgentHandle;
  let flood: AgentHandle;
  let primary: PostgresInstance;
  let standby: PostgresInstance;
  const a = roleApp('db-a');
  const b = roleApp('db-b');

  beforeAll(async () => {
    // The databases and the control plane start side by side, then the agents three at a time.
    const databases = (async () => {
      primary = await startPostgresPrimary({ synchronousStandbyNames: '"pg-2"' });
      standby = await startPostgresStandby(primary, { name: 'pg-2' });
    })();
    for (const app of [a, b]) await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', r));
    a.role = 'primary';
    cp = await mesh.controlPlane({
      services: {
        db: {
          routes: [
            { name: 'reads', match: { methods: ['GET'] }, splits: [{ subset: { role: 'replica' } }] },
            { name: 'writes', splits: [{ subset: { role: 'primary' } }] },
          ],
        },
      },
    });
    await databases;
    const pgCheck = { kind: 'postgres', intervalMs: 200, timeoutMs: 2_000, healthyThreshold: 1 };
    const httpCheck = { kind: 'http', rolePaths: { primary: '/primary', replica: '/replica' }, healthyThreshold: 1 };
    await Promise.all([
      mesh.agent({ agentId: 'pg-1', cp, instance: { service: 'pg', app: primary, healthCheck: pgCheck } }),
      mesh.agent({ agentId: 'pg-2', cp, instance: { service: 'pg', app: standby, healthCheck: pgCheck } }),
      // db-a is configured as a replica: its check's role overrides the label.
      mesh.agent({
        agentId: 'db-a',
        cp,
        instance: { service: 'db', app: { port: a.port() }, labels: { role: 'replica' }, healthCheck: httpCheck },
      }),
    ]);
    // Three agents at a time: more at once outlast the start-up deadline on a loaded two-core machine.
    [, flood, client] = await Promise.all([
      mesh.agent({ agentId: 'db-b', cp, instance: { service: 'db', app: { port: b.port() }, healthCheck: httpCheck } }),
      // An exec check whose program prints without end.
      mesh.agent({
        agentId: 'flood-1',
        cp,
        instance: {
          service: 'flood',
          app: { port: a.port() },
          healthCheck: { kind: 'exec', command: ['/usr/bin/yes', 'primary'], timeoutMs: 300, intervalMs: 500 },
        },
      }),
      mesh.agent({ agentId: 'client', cp, outbound: true, calls: ['pg', 'db'] }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await standby?.cleanup();
    await primary?.cleanup();
    a.server.close();
    b.server.close();
  });

  it('marks the PostgreSQL primary and standby in the tables, and the control plane has their offsets', async () => {
    const table = await waitFor('the client to see pg-1 primary and pg-2 replica', async () => {
      const e = await endpoints(client, 'pg');
      return e['pg-1']?.role === 'primary' && e['pg-2']?.role === 'replica' && e;
    });
    expect(table['pg-1']?.labels?.role).toBe('primary');
    expect(table['pg-2']?.labels?.role).toBe('replica');
    const before = await waitFor('both offsets recorded', async () => {
      const i = await instances(cp);
      return (i['pg-1']?.replicationOffset ?? 0) > 0 && (i['pg-2']?.replicationOffset ?? 0) > 0 && i;
    });
    expect(before['pg-1']?.role).toBe('primary');
    expect(before['pg-2']?.role).toBe('replica');
    // Writes on the primary (synchronous: on the standby once acknowledged): both offsets move, and the control plane hears.
    await primary.query('CREATE TABLE t (n int)');
    await primary.query('INSERT INTO t SELECT generate_series(1, 5000)');
    const [lsn] = await primary.query<{ o: string }>("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS o");
    await waitFor('the standby offset caught up at the control plane', async () => {
      const i = await instances(cp);
      return (
        (i['pg-2']?.replicationOffset ?? 0) >= Number(lsn?.o) && (i['pg-1']?.replicationOffset ?? 0) >= Number(lsn?.o)
      );
    });
  });

  it('follows a promotion: the old primary killed, the standby promoted, the tables say so', async () => {
    await primary.kill();
    await standby.promote();
    await waitFor('pg-2 primary and pg-1 without a role', async () => {
      const e = await endpoints(client, 'pg');
      return e['pg-2']?.role === 'primary' && e['pg-1']?.role === undefined;
    });
    const i = await instances(cp);
    expect(i['pg-1']?.state).not.toBe('healthy');
    expect(i['pg-2']?.role).toBe('primary');
  });

  it('an HTTP read/write split by role subset follows the rolePaths check when the roles flip', async () => {
    const who = async (method: string) =>
      String(
        (
          await httpRequest(client.outboundPort as number, 'http://db/items', {
            method,
            ...(method === 'POST' ? { body: 'x' } : {}),
          })
        ).headers['x-instance'],
      );
    await waitFor(
      'writes to db-a, reads to db-b',
      async () => (await who('POST')) === 'db-a' && (await who('GET')) === 'db-b',
    );
    const e = await endpoints(client, 'db');
    expect(e['db-a']).toMatchObject({ role: 'primary', labels: { role: 'primary' } });
    a.role = 'replica';
    b.role = 'primary';
    await waitFor(
      'writes to db-b, reads to db-a',
      async () => (await who('POST')) === 'db-b' && (await who('GET')) === 'db-a',
    );
    for (let n = 0; n < 10; n++) {
      expect(await who('POST')).toBe('db-b');
      expect(await who('GET')).toBe('db-a');
    }
  });

  it('an exec check whose program floods stdout: bounded, the agent stays up', async () => {
    const seen = await waitFor('the flood check killed at its timeout, twice', async () => {
      const i = (await instances(cp))['flood-1'];
      return i?.state === 'unhealthy' && /killed: no exit within 300 ms \(stdout \d+ characters/.test(i.reason) && i;
    });
    expect(seen.reason.length).toBeLessThan(1024);
    expect(flood.proc.running).toBe(true);
    expect((await httpRequest(flood.adminPort, '/ready')).status).toBe(200);
  });
});
