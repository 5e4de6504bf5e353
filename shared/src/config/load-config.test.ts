import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, MeshletError } from '../errors.js';
import { AgentConfig } from './agent-config.js';
import { ControlPlaneConfig } from './control-plane-config.js';
import { listSettings, loadConfig } from './load-config.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function yamlFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-cfg-'));
  dirs.push(dir);
  const file = join(dir, 'c.yaml');
  writeFileSync(file, text);
  return file;
}

function issuesOf(fn: () => unknown): Array<{ path: string; problem: string; fix: string }> {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return [...(e as ConfigError).issues];
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('fills defaults and freezes the result', () => {
    const { config } = loadConfig(ControlPlaneConfig, { argv: [], env: {} });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 15010 });
    expect(config.heartbeat.timeoutMs).toBe(3000);
    expect(Object.isFrozen(config.listen)).toBe(true);
  });

  it('layers file < environment < flags', () => {
    const file = yamlFile('agentId: a\nlisteners:\n  outbound:\n    port: 1000\n  admin:\n    port: 1001\ncontrolPlane:\n  url: ws://file/v1/stream\n');
    const { config } = loadConfig(AgentConfig, {
      argv: ['--config', file, '--listeners.outbound.port', '3000'],
      env: { MESHLET_LISTENERS_OUTBOUND_PORT: '2000', MESHLET_CONTROL_PLANE_URL: 'ws://env/v1/stream', MESHLET_LISTENERS_ADMIN_PORT: '' },
    });
    expect(config.listeners.outbound.port).toBe(3000);
    expect(config.controlPlane.url).toBe('ws://env/v1/stream');
    expect(config.listeners.admin.port).toBe(1001);
  });

  it('accepts --name=value flags', () => {
    const { config } = loadConfig(AgentConfig, { argv: ['--agentId=x', '--proxy.connectTimeoutMs=300'], env: {} });
    expect(config.proxy.connectTimeoutMs).toBe(300);
  });

  it('names every bad field with a fix', () => {
    const file = yamlFile('listen:\n  port: 99999\n  hots: x\nheartbeat:\n  timeoutMs: fast\n');
    const issues = issuesOf(() => loadConfig(ControlPlaneConfig, { argv: ['--config', file], env: {} }));
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'listen.port', problem: 'must be <= 65535' }),
        expect.objectContaining({ path: 'listen.hots', problem: 'is not a known field' }),
        expect.objectContaining({ path: 'heartbeat.timeoutMs', problem: 'must be of type integer' }),
      ]),
    );
    for (const i of issues) expect(i.fix.length).toBeGreaterThan(5);
  });

  it('reports a missing required field and a schema-specific fix', () => {
    const issues = issuesOf(() => loadConfig(AgentConfig, { argv: ['--instance.service', 'Bad Name', '--instance.app.port', '80'], env: {} }));
    expect(issues.find((i) => i.path === 'agentId')?.fix).toBe('add "agentId"');
    expect(issues.find((i) => i.path === 'instance.service')?.fix).toContain('DNS label');
  });

  it('refuses unknown flags and flags without a value', () => {
    expect(issuesOf(() => loadConfig(AgentConfig, { argv: ['--nope', '1'], env: {} }))[0]?.path).toBe('--nope');
    expect(issuesOf(() => loadConfig(AgentConfig, { argv: ['--agentId'], env: {} }))[0]?.problem).toContain('needs a value');
  });

  it('reports an unreadable file and bad YAML with MESHLET_CONFIG_UNREADABLE', () => {
    for (const argv of [['--config', '/nonexistent/meshlet.yaml'], ['--config', yamlFile('a: [b\n')]]) {
      try {
        loadConfig(AgentConfig, { argv, env: {} });
        throw new Error('expected an error');
      } catch (e) {
        expect(e).toBeInstanceOf(MeshletError);
        expect((e as MeshletError).code).toBe('MESHLET_CONFIG_UNREADABLE');
      }
    }
  });

  it('answers --help without validating', () => {
    expect(loadConfig(AgentConfig, { argv: ['--help'], env: {} }).help).toBe(true);
  });

  it('derives environment names from setting paths and leaves maps to the file', () => {
    const settings = listSettings(AgentConfig);
    expect(settings).toContainEqual({ path: 'controlPlane.joinToken', env: 'MESHLET_CONTROL_PLANE_JOIN_TOKEN', flag: '--controlPlane.joinToken' });
    expect(settings.some((s) => s.path.startsWith('instance.labels'))).toBe(false);
  });
});
