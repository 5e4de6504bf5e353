import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { createLogger, type Endpoint, type FailoverState, resolvePolicy, type Routes } from '@meshlet/shared';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { RouteTable } from '../route/route-table.js';
import { OpenTcpConnections } from './open-tcp-connections.js';
import { createTcpMetrics } from './tcp-metrics.js';
import { TcpOutbound } from './tcp-outbound.js';
import { dialEndpoint } from './dial-endpoint.js';
import { encodePreamble } from './tcp-preamble.js';

// The caller side on real loopback sockets: a fake callee agent (plaintext:
// magic line, preamble line, then an answer it gives when the test says so)
// records every byte it gets after its answer, i.e. what was relayed.

const log = createLogger('test', 'silent');

/** One connection the fake callee took: its preamble, and the bytes relayed after the answer. */
interface Taken {
  preamble: string;
  relayed: string;
  closed: Promise<unknown>;
}

let callee: Server;
let calleePort: number;
/** Called with each connection's preamble; resolves with the answer line to give. */
let answer: (preamble: string) => Promise<string> = () => Promise.resolve('OK');
const taken: Taken[] = [];

let front: Server;
let frontPort: number;
let table: RouteTable | undefined;
const connections = new OpenTcpConnections();
const stats = new EndpointStatsMap();
const metrics = createTcpMetrics(new Registry());
let outbound: TcpOutbound;

const ep = (id: string, port: number): Endpoint => ({ id, host: '127.0.0.1', port, tier: 0, weight: 1, labels: {} });

function routes(version: number, failover: FailoverState, endpoints: Endpoint[]): RouteTable {
  const r = {
    type: 'routes',
    version,
    nonce: 'n',
    services: {
      pg: { endpoints, policy: resolvePolicy({ protocol: 'tcp', failover: { mode: 'managed' } }), failover },
    },
  } as Routes;
  return new RouteTable(r, 'control-plane', 0, { random: () => 0, clock: () => 0, stats, zone: undefined });
}

/** Installs `t` as an agent does: the table in force, then fencing (TcpServices.onTable). */
function install(t: RouteTable): void {
  table = t;
  connections.fence(t);
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function count(result: string): Promise<number> {
  const m = await metrics.connections.get();
  return m.values.find((v) => v.labels.result === result)?.value ?? 0;
}

beforeAll(async () => {
  callee = createServer((s: Socket) => {
    s.on('error', () => undefined);
    let head = '';
    let t: Taken | undefined;
    const closed = once(s, 'close');
    s.on('data', (c: Buffer) => {
      if (t !== undefined) {
        t.relayed += c.toString();
        return;
      }
      head += c.toString();
      const lines = head.split('\n');
      if (lines.length < 3) return;
      t = { preamble: lines[1] as string, relayed: lines.slice(2).join('\n'), closed };
      taken.push(t);
      void answer(t.preamble).then((line) => {
        if (!s.destroyed) s.write(`${line}\n`);
      });
    });
  });
  calleePort = await listen(callee);
  outbound = new TcpOutbound({
    table: () => table,
    stats,
    connector: () => undefined,
    connections,
    metrics,
    log,
    clock: () => performance.now(),
  });
  front = createServer((s) => void outbound.handle(s, { service: 'pg', role: 'primary' }));
  frontPort = await listen(front);
});

afterEach(() => {
  answer = () => Promise.resolve('OK');
  taken.length = 0;
});

afterAll(() => {
  connections.closeAll('shutdown');
  front.close();
  callee.close();
});

/** A client of the dedicated port that writes `data` at once; resolves when the agent closes it. */
function client(data: string): { socket: Socket; closed: Promise<unknown> } {
  const socket = connect({ host: '127.0.0.1', port: frontPort });
  socket.on('error', () => undefined);
  socket.write(data);
  return { socket, closed: once(socket, 'close') };
}

describe('TcpOutbound', () => {
  it('attack: a table with a new term installed while the dial to the old primary is in flight: the connection is closed, fenced, and no byte reaches the deposed primary', async () => {
    install(routes(1, { term: 5, holder: 'pg-1', primary: 'pg-1', candidates: [] }, [ep('pg-1', calleePort)]));
    answer = async () => {
      // The callee's agent answers only after the new term's table reached the caller (pg-2 elsewhere).
      install(
        routes(2, { term: 6, holder: 'pg-2', primary: 'pg-2', candidates: [] }, [
          ep('pg-1', calleePort),
          ep('pg-2', 1),
        ]),
      );
      return 'OK';
    };
    const before = await count('fenced');
    const c = client('INSERT INTO accounts VALUES (1)\n');
    await c.closed;
    expect(taken).toHaveLength(1);
    expect(JSON.parse(taken[0]!.preamble)).toMatchObject({ role: 'primary', term: 5 });
    await taken[0]!.closed;
    expect(taken[0]!.relayed).toBe('');
    expect((await count('fenced')) - before).toBe(1);
    expect(connections.size).toBe(0);
  });

  it("attack: a callee's ERR line with made-up codes becomes the code label of the connect-failure metric (unbounded series): others are counted as other", async () => {
    install(routes(4, { term: 8, holder: 'pg-1', primary: 'pg-1', candidates: [] }, [ep('pg-1', calleePort)]));
    let n = 0;
    answer = () => Promise.resolve(`ERR MESHLET_MADE_UP_${n++} flood`);
    for (let i = 0; i < 5; i++) await client('x\n').closed;
    const series = (await metrics.connectFailures.get()).values.map((v) => v.labels.code);
    expect(series.filter((c) => String(c).startsWith('MESHLET_MADE_UP'))).toEqual([]);
    expect(series).toContain('other');
  });

  it("attack: callers the service's policy refuses blame no endpoint (no outlier ejection, no failure reported): only the endpoint's own failures do", async () => {
    const dial = async (line: string) => {
      answer = () => Promise.resolve(line);
      const r = await dialEndpoint(ep('pg-1', calleePort), {
        service: 'pg',
        preamble: encodePreamble({ v: 1, service: 'pg' }),
        connectMs: 1000,
      });
      if (r.ok) r.socket.destroy();
      return r.ok ? 'ok' : r.blame;
    };
    for (const code of [
      'MESHLET_AUTHZ_DENIED',
      'MESHLET_AUTHZ_POLICY_UNKNOWN',
      'MESHLET_MTLS_REQUIRED',
      'MESHLET_TCP_WRONG_SERVICE',
      'MESHLET_TCP_PREAMBLE_INVALID',
      'MESHLET_PRIMARY_FENCED',
    ])
      expect([code, await dial(`ERR ${code} no`)]).toEqual([code, false]);
    expect(await dial('ERR MESHLET_APP_UNREACHABLE cannot connect to the local app')).toBe(true);
    expect(await dial('HTTP/1.1 400 Bad Request')).toBe(true);
    const unreachable = await dialEndpoint(ep('pg-1', 1), {
      service: 'pg',
      preamble: Buffer.from('\n'),
      connectMs: 1000,
    });
    expect(unreachable).toMatchObject({ ok: false, blame: true });

    // Through the caller's agent: a denied connection is counted as refused, and the endpoint stays in use.
    install(routes(3, { term: 7, holder: 'pg-1', primary: 'pg-1', candidates: [] }, [ep('pg-1', calleePort)]));
    answer = () => Promise.resolve('ERR MESHLET_AUTHZ_DENIED writer may not connect to pg');
    const before = await count('refused');
    for (let i = 0; i < 8; i++) await client('x\n').closed;
    expect((await count('refused')) - before).toBe(8);
    answer = () => Promise.resolve('OK');
    const c = client('SELECT 1\n');
    await vi.waitFor(() => expect(taken.at(-1)?.relayed).toBe('SELECT 1\n'));
    c.socket.destroy();
    await c.closed;
  });
});
