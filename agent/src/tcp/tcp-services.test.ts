import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import {
  AgentConfig,
  compileValidator,
  createLogger,
  type Endpoint,
  resolvePolicy,
  type Routes,
} from '@meshlet/shared';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import type { OutboundListener } from '../listener/outbound-listener.js';
import { RouteTable } from '../route/route-table.js';
import { TcpServices } from './tcp-services.js';

// The agent's TCP services stopping while connections are not relaying
// yet: one mid-dial (the callee's agent has not answered), one waiting for
// its service to reach the table. Real loopback sockets; the dedicated
// ports are plain servers handed to attach() as the agent does.

const log = createLogger('test', 'silent');
const validate = compileValidator(AgentConfig, { useDefaults: true });

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

describe('TcpServices.close', () => {
  let callee: Server;
  const calleeSockets: Socket[] = [];
  const ports: Server[] = [];
  let tcp: TcpServices;
  let table: RouteTable | undefined;

  beforeAll(async () => {
    // A callee agent that takes the preamble and never answers (its app connection still opening).
    callee = createServer((s) => {
      s.on('error', () => undefined);
      calleeSockets.push(s);
    });
    const calleePort = await listen(callee);
    const config = validate({
      agentId: 'client',
      controlPlane: { url: 'ws://127.0.0.1:1/v1/stream', subscribeWaitMs: 60_000 },
      upstreams: [
        { service: 'pg', port: 0 },
        { service: 'later', port: 0 },
      ],
    });
    if (!config.ok) throw new Error(JSON.stringify(config.issues));
    const stats = new EndpointStatsMap();
    tcp = new TcpServices(config.value, {
      table: () => table,
      stats,
      metrics: { registry: new Registry() },
      connector: () => undefined,
      log,
      clock: () => performance.now(),
    });
    const ep: Endpoint = { id: 'pg-1', host: '127.0.0.1', port: calleePort, tier: 0, weight: 1, labels: {} };
    const routes = {
      type: 'routes',
      version: 1,
      nonce: 'n',
      services: {
        pg: { endpoints: [ep], policy: resolvePolicy({ protocol: 'tcp', timeouts: { connectMs: 30_000 } }) },
      },
    } as Routes;
    table = new RouteTable(routes, 'control-plane', 0, { random: () => 0, clock: () => 0, stats, zone: undefined });
    for (const service of ['pg', 'later']) {
      const server = createServer();
      tcp.attach({ server, acceptConnection: () => undefined } as unknown as OutboundListener, { service });
      ports.push(server);
    }
    for (const server of ports) await listen(server);
  });

  afterAll(() => {
    for (const s of calleeSockets) s.destroy();
    for (const server of ports) server.close();
    callee.close();
  });

  it('attack: connections not relaying yet (mid-dial, or waiting for their service) outlive the agent stop: all are closed, and later ones at once', async () => {
    const dialling = connect({ host: '127.0.0.1', port: (ports[0]!.address() as AddressInfo).port });
    const waiting = connect({ host: '127.0.0.1', port: (ports[1]!.address() as AddressInfo).port });
    const closed = [dialling, waiting].map((s) => {
      s.on('error', () => undefined);
      return once(s, 'close');
    });
    await Promise.all([once(dialling, 'connect'), once(waiting, 'connect')]);
    // The dial reached the callee (its preamble sent), which does not answer.
    await new Promise<void>((resolve) =>
      calleeSockets.length > 0 ? resolve() : callee.once('connection', () => resolve()),
    );
    tcp.close();
    await Promise.all(closed);
    const late = connect({ host: '127.0.0.1', port: (ports[0]!.address() as AddressInfo).port });
    late.on('error', () => undefined);
    await once(late, 'close');
    // Nothing of the port servers is left open: close() on them returns.
    await Promise.all(ports.map((server) => new Promise((resolve) => server.close(resolve))));
    expect(tcp.connections.size).toBe(0);
  });
});
