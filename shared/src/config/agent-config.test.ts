import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentConfig } from './agent-config.js';
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

describe('defaults', () => {
  it('fills every agent default when only the required agentId is given', () => {
    const { config, file, help } = agent();
    expect(help).toBe(false);
    expect(file).toBeUndefined();
    expect(config).toEqual({
      agentId: 'a-1',
      listeners: {
        outbound: { enabled: true, host: '127.0.0.1', port: 15001 },
        inbound: { host: '0.0.0.0', port: 15006 },
        admin: { host: '127.0.0.1', port: 15000 },
      },
      controlPlane: {
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
      healthCheck: { path: '/healthz', intervalMs: 1000, timeoutMs: 500, healthyThreshold: 2, unhealthyThreshold: 2 },
    });
  });
});
