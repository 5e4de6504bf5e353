import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentTable, type AgentHandle, withMesh } from '../harness/mesh.js';
import { type RedisInstance, startRedis } from '../harness/redis.js';
import { waitFor } from '../harness/wait.js';
import { httpRequest } from '../harness/http.js';

// A real redis-server as a TCP service's app: the client app speaks RESP
// through its agent's dedicated port, over the agents' mutual TLS, to the
// redis agent, which relays to redis. Its agent checks it over HTTP, which
// redis refuses, so the instance is served in panic mode (its only
// endpoint unhealthy): a check of kind tcp or redis (docs/databases.md)
// makes it healthy.

describe('a real redis-server behind a TCP service', () => {
  const mesh = withMesh();
  let client: AgentHandle;
  let redis: Redis | undefined;
  let server: RedisInstance | undefined;

  beforeAll(async () => {
    server = await startRedis({ name: 'cache-redis' });
    const redisPort = server.port;
    const cp = await mesh.controlPlane({ services: { cache: { protocol: 'tcp' } } });
    await mesh.agent({
      agentId: 'cache-1',
      cp,
      instance: { service: 'cache', app: { port: redisPort }, healthCheck: { intervalMs: 60_000 } },
    });
    client = await mesh.agent({ agentId: 'client', cp, upstreams: { cache: 'free' } });
    await waitFor(
      'the client to hold the cache endpoint',
      async () => (await agentTable(client))?.services.cache?.endpoints.length === 1,
    );
  }, 60_000);

  afterAll(async () => {
    redis?.disconnect();
    await server?.cleanup();
  });

  it('PING, SET and GET through the local port', async () => {
    redis = new Redis({ port: client.upstreamPorts.cache as number, maxRetriesPerRequest: 1 });
    expect(await redis.ping()).toBe('PONG');
    expect(await redis.set('meshlet:tcp', 'through the mesh')).toBe('OK');
    expect(await redis.get('meshlet:tcp')).toBe('through the mesh');
    const text = (await httpRequest(client.adminPort, '/metrics')).body;
    expect(text).toMatch(/meshlet_agent_tcp_connections_open\{direction="outbound",service="cache"\} 1/);
  });
});
