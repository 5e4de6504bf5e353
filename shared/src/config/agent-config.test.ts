import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentConfig } from './agent-config.js';
import { connectionLimitsIssues } from './connection-limits.js';
import { loadConfig } from './load-config.js';

const dir = mkdtempSync(join(tmpdir(), 'meshlet-cfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function yamlFile(text: string): string {
  const file = join(dir, 'meshlet.yaml');
  writeFileSync(file, text);
  return file;
}

const agent = (argv: string[] = [], env: Record<string, string> = {}) =>
  loadConfig(AgentConfig, { argv: ['--agentId', 'a-1', ...argv], env });

/** A listener's default limits with these caps (timeouts: 10 s headers, 300 s request, 5 s idle; IPv6 callers by /64). */
const limits = (maxConnections: number, maxConnectionsPerAddress: number) => ({
  maxConnections,
  maxConnectionsPerAddress,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  idleTimeoutMs: 5_000,
  ipv6PrefixLength: 64,
});

describe('defaults', () => {
  it('fills every agent default when only the required agentId is given', () => {
    const { config, file, help } = agent();
    expect(help).toBe(false);
    expect(file).toBeUndefined();
    expect(config).toEqual({
      agentId: 'a-1',
      listeners: {
        outbound: { enabled: true, host: '127.0.0.1', port: 15001, limits: limits(4096, 4096) },
        // Inbound callers are mesh agents: IPv6 per address (see docs/security.md).
        inbound: { host: '0.0.0.0', port: 15006, limits: { ...limits(4096, 512), ipv6PrefixLength: 128 } },
        admin: {
          host: '127.0.0.1',
          port: 15000,
          limits: { ...limits(256, 256), idleTimeoutMs: 72_000 },
          allowedHosts: [],
        },
      },
      controlPlane: {
        allowPlaintextRemote: false,
        // No url: the agent resolves url/urls, and the default, itself (agent/src/control/control-plane-urls.ts).
        heartbeatIntervalMs: 1000,
        reconnectInitialDelayMs: 200,
        reconnectMaxDelayMs: 5000,
        maxMessageBytes: 16 * 1024 * 1024,
        subscribeWaitMs: 1000,
        observationIntervalMs: 1000,
      },
      upstreams: [],
      accessLog: { enabled: true },
      proxy: { connectTimeoutMs: 1000, requestTimeoutMs: 15_000 },
      outboundTrafficPolicy: { mode: 'registry-only' },
      tableBudget: { maxHashEntries: 16_777_216, maxServices: 10_000, maxEndpoints: 100_000 },
      dataDir: './data/agent',
      log: { level: 'info' },
    });
  });

  it('fills the defaults of an instance given in the file, including its health check', () => {
    const file = yamlFile('agentId: orders-1\ninstance:\n  service: orders\n  app:\n    port: 8080\n');
    const { config } = loadConfig(AgentConfig, { argv: ['--config', file], env: {} });
    expect(config.instance).toEqual({
      service: 'orders',
      tier: 0,
      weight: 1,
      labels: {},
      app: { host: '127.0.0.1', port: 8080 },
      healthCheck: {
        kind: 'http',
        path: '/healthz',
        service: '',
        user: 'postgres',
        database: 'postgres',
        intervalMs: 1000,
        timeoutMs: 500,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      },
    });
  });

  it('takes a gRPC health check (kind, service) and names the field of a kind it does not know', () => {
    const base = 'agentId: a\ninstance:\n  service: greeter\n  app: { port: 8080 }\n  healthCheck:\n';
    const grpc = yamlFile(`${base}    kind: grpc\n    service: meshlet.demo.Greeter\n`);
    expect(loadConfig(AgentConfig, { argv: ['--config', grpc], env: {} }).config.instance?.healthCheck).toMatchObject({
      kind: 'grpc',
      service: 'meshlet.demo.Greeter',
    });
    const bad = yamlFile(`${base}    kind: ldap\n`);
    expect(() => loadConfig(AgentConfig, { argv: ['--config', bad], env: {} })).toThrow(/instance\.healthCheck\.kind/);
  });

  it('gives every listener its own limits, settable by flag, and refuses headers due after the request', () => {
    const { config } = agent(['--listeners.inbound.limits.maxConnectionsPerAddress', '64']);
    expect(config.listeners.inbound.limits.maxConnectionsPerAddress).toBe(64);
    const file = yamlFile('agentId: a\nupstreams:\n  - service: orders\n    port: 9000\n');
    expect(loadConfig(AgentConfig, { argv: ['--config', file], env: {} }).config.upstreams[0]?.limits).toEqual(
      limits(4096, 4096),
    );
    expect(connectionLimitsIssues({ ...limits(1, 1), headersTimeoutMs: 0 }, 'listeners.admin.limits')).toEqual([
      {
        path: 'listeners.admin.limits.headersTimeoutMs',
        problem: 'is 0 (no limit), beyond listeners.admin.limits.requestTimeoutMs (300000 ms)',
        fix: 'set listeners.admin.limits.headersTimeoutMs to at most 300000, or raise listeners.admin.limits.requestTimeoutMs',
      },
    ]);
    expect(connectionLimitsIssues({ ...limits(1, 1), requestTimeoutMs: 0, headersTimeoutMs: 0 }, 'x')).toEqual([]);
  });
});
