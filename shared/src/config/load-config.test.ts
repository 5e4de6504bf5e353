import { describe, expect, it } from 'vitest';
import { AgentConfig } from './agent-config.js';
import { ControlPlaneConfig } from './control-plane-config.js';
import { loadConfig } from './load-config.js';
import { useYamlFiles } from './test-support/yaml-file.js';

// What loadConfig makes of no settings, an empty file, and --help, and that
// what it returns is frozen. Where each setting comes from (file, environment,
// flags) is in config-sources.test.ts; what it reports when a setting is
// wrong or the file unreadable, in config-error.test.ts.

const yamlFile = useYamlFiles();

describe('loadConfig', () => {
  it('fills defaults and freezes the result', () => {
    const { config } = loadConfig(ControlPlaneConfig, { argv: [], env: {} });
    expect(config.listen).toMatchObject({ host: '127.0.0.1', port: 15010 });
    expect(config.listen.limits).toEqual({
      maxConnections: 16_384,
      maxConnectionsPerAddress: 1_024,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 300_000,
      idleTimeoutMs: 72_000,
      ipv6PrefixLength: 64,
    });
    expect(config.heartbeat.timeoutMs).toBe(3000);
    expect(Object.isFrozen(config.listen)).toBe(true);
  });

  it('answers --help without validating', () => {
    expect(loadConfig(AgentConfig, { argv: ['--help'], env: {} }).help).toBe(true);
  });
});

describe('defaults', () => {
  it('treats an empty YAML file as no settings', () => {
    const { config, file } = loadConfig(ControlPlaneConfig, { argv: ['--config', yamlFile('')], env: {} });
    expect(config.listen.port).toBe(15010);
    expect(file).toMatch(/meshlet\.yaml$/);
  });
});

describe('the result', () => {
  it('is frozen all the way down, labels included', () => {
    const file = yamlFile('agentId: a\ninstance:\n  service: s\n  labels:\n    role: primary\n  app:\n    port: 80\n');
    const { config } = loadConfig(AgentConfig, { argv: ['--config', file], env: {} });
    const instance = config.instance;
    if (!instance) throw new Error('expected an instance');
    for (const o of [
      config,
      config.listeners,
      config.listeners.outbound,
      config.controlPlane,
      instance,
      instance.labels,
      instance.app,
      instance.healthCheck,
    ]) {
      expect(Object.isFrozen(o)).toBe(true);
    }
    // ESM modules run in strict mode, where writing to a frozen object throws.
    expect(() => {
      (config.listeners.outbound as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => {
      (instance.labels as Record<string, string>).role = 'x';
    }).toThrow(TypeError);
  });
});

describe('--help', () => {
  it('returns help: true, as --help or -h, even beside bad flags and a missing file', () => {
    for (const argv of [['--help'], ['-h'], ['--nope', '--help'], ['--config', '/nonexistent.yaml', '-h']]) {
      const r = loadConfig(AgentConfig, { argv, env: { MESHLET_LISTENERS_OUTBOUND_PORT: 'bad' } });
      expect(r.help).toBe(true);
    }
  });
});
