import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, MeshletError, type ValidationIssue } from '../errors.js';
import { AgentConfig } from './agent-config.js';
import { ControlPlaneConfig } from './control-plane-config.js';
import { type ConfigSources, loadConfig } from './load-config.js';
import { useYamlFiles } from './test-support/yaml-file.js';

// How loadConfig reports a configuration it cannot use: a ConfigError
// (MESHLET_CONFIG_INVALID) naming every bad setting with its source, path and
// fix, and MESHLET_CONFIG_UNREADABLE for a file it cannot read or parse.

const yamlFile = useYamlFiles();

function issuesOf(fn: () => unknown): Array<{ path: string; problem: string; fix: string }> {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return [...(e as ConfigError).issues];
  }
  throw new Error('expected a ConfigError');
}

function configError(schema: typeof AgentConfig | typeof ControlPlaneConfig, sources: ConfigSources): ConfigError {
  try {
    loadConfig(schema, sources);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

function onlyIssue(e: ConfigError): ValidationIssue {
  expect(e.issues).toHaveLength(1);
  return e.issues[0] as ValidationIssue;
}

describe('errors', () => {
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
    const issues = issuesOf(() =>
      loadConfig(AgentConfig, { argv: ['--instance.service', 'Bad Name', '--instance.app.port', '80'], env: {} }),
    );
    expect(issues.find((i) => i.path === 'agentId')?.fix).toBe('add "agentId"');
    expect(issues.find((i) => i.path === 'instance.service')?.fix).toContain('DNS label');
  });

  it('refuses unknown flags and flags without a value', () => {
    expect(issuesOf(() => loadConfig(AgentConfig, { argv: ['--nope', '1'], env: {} }))[0]?.path).toBe('--nope');
    expect(issuesOf(() => loadConfig(AgentConfig, { argv: ['--agentId'], env: {} }))[0]?.problem).toContain(
      'needs a value',
    );
  });

  it('reports an unreadable file and bad YAML with MESHLET_CONFIG_UNREADABLE', () => {
    for (const argv of [
      ['--config', '/nonexistent/meshlet.yaml'],
      ['--config', yamlFile('a: [b\n')],
    ]) {
      try {
        loadConfig(AgentConfig, { argv, env: {} });
        throw new Error('expected an error');
      } catch (e) {
        expect(e).toBeInstanceOf(MeshletError);
        expect((e as MeshletError).code).toBe('MESHLET_CONFIG_UNREADABLE');
      }
    }
  });

  it('are ConfigErrors with code MESHLET_CONFIG_INVALID whose message names the source, path and fix', () => {
    const file = yamlFile('listen:\n  port: 99999\n');
    const e = configError(ControlPlaneConfig, { argv: ['--config', file], env: {} });
    expect(e).toBeInstanceOf(MeshletError);
    expect(e.code).toBe('MESHLET_CONFIG_INVALID');
    expect(e.message).toContain(file);
    expect(e.message).toContain('listen.port: must be <= 65535. Fix: use a value in range');
  });

  it('names an unknown field, nested or at the top', () => {
    const file = yamlFile('agentId: a\nlisteners:\n  outbound:\n    prot: 1\nlogging: debug\n');
    const e = configError(AgentConfig, { argv: ['--config', file], env: {} });
    expect(e.issues).toEqual(
      expect.arrayContaining([
        { path: 'listeners.outbound.prot', problem: 'is not a known field', fix: expect.stringContaining('spelling') },
        { path: 'logging', problem: 'is not a known field', fix: expect.stringContaining('spelling') },
      ]),
    );
    expect(e.issues).toHaveLength(2);
  });

  it('names a wrong type given by a flag', () => {
    expect(
      onlyIssue(configError(AgentConfig, { argv: ['--agentId', 'a', '--proxy.connectTimeoutMs=many'], env: {} })),
    ).toEqual({
      path: 'proxy.connectTimeoutMs',
      problem: 'must be of type integer',
      fix: expect.stringContaining('integer'),
    });
  });

  it('names an out-of-range value from the environment, in either direction', () => {
    expect(
      onlyIssue(
        configError(AgentConfig, { argv: ['--agentId', 'a'], env: { MESHLET_LISTENERS_OUTBOUND_PORT: '70000' } }),
      ),
    ).toMatchObject({
      path: 'listeners.outbound.port',
      problem: 'must be <= 65535',
    });
    expect(
      onlyIssue(configError(AgentConfig, { argv: ['--agentId', 'a'], env: { MESHLET_PROXY_CONNECT_TIMEOUT_MS: '5' } })),
    ).toMatchObject({
      path: 'proxy.connectTimeoutMs',
      problem: 'must be >= 10',
    });
  });

  it('names a missing required field with where to add it', () => {
    expect(onlyIssue(configError(AgentConfig, { argv: [], env: {} }))).toEqual({
      path: 'agentId',
      problem: 'is required but missing',
      fix: 'add "agentId"',
    });
    const issue = onlyIssue(
      configError(AgentConfig, { argv: ['--agentId', 'a', '--instance.service', 'orders'], env: {} }),
    );
    expect(issue).toEqual({
      path: 'instance.app',
      problem: 'is required but missing',
      fix: 'add "app" under "instance"',
    });
  });

  it('names an unknown flag, a stray word and an unknown short option', () => {
    const e = configError(AgentConfig, { argv: ['--listeners.outbound.prot=1', 'stray', '-x'], env: {} });
    expect(e.issues.map((i) => i.path)).toEqual([
      '--listeners.outbound.prot',
      '(an argument that is not a flag)',
      '-x',
    ]);
    for (const i of e.issues)
      expect(i).toMatchObject({ problem: 'is not a known flag', fix: 'run with --help to list the flags' });
    expect(e.message).toContain('command-line flags');
  });

  it('never echoes the value of a mistyped flag, which may be a secret (regression: review finding)', () => {
    const e = configError(AgentConfig, {
      argv: ['--agentId', 'a', '--controlplane.jointoken', 's3cr3t-value'],
      env: {},
    });
    expect(e.message).not.toContain('s3cr3t-value');
    expect(e.issues.map((i) => i.path)).toEqual(['--controlplane.jointoken']);
  });

  it('refuses a map setting (labels) as a flag: maps are set in the file', () => {
    expect(
      onlyIssue(configError(AgentConfig, { argv: ['--agentId', 'a', '--instance.labels.role=x'], env: {} })).path,
    ).toBe('--instance.labels.role');
  });

  it('names a flag without a value, at the end or before another flag', () => {
    const e = configError(AgentConfig, { argv: ['--listeners.outbound.port', '--agentId'], env: {} });
    expect(e.issues).toEqual([
      {
        path: 'listeners.outbound.port',
        problem: 'flag --listeners.outbound.port needs a value',
        fix: 'pass --listeners.outbound.port=VALUE',
      },
      { path: 'agentId', problem: 'flag --agentId needs a value', fix: 'pass --agentId=VALUE' },
    ]);
    expect(onlyIssue(configError(AgentConfig, { argv: ['--config'], env: {} }))).toEqual({
      path: '--config',
      problem: 'needs a file name',
      fix: 'pass --config FILE',
    });
  });

  it('refuses a YAML document that is not a mapping', () => {
    for (const text of ['- a\n- b\n', 'just a string\n', '42\n']) {
      const e = configError(AgentConfig, { argv: ['--config', yamlFile(text)], env: {} });
      expect(onlyIssue(e)).toMatchObject({ path: '', problem: 'must be a YAML mapping' });
    }
  });

  it.each([
    ['a missing file', () => join(tmpdir(), 'meshlet-does-not-exist', 'meshlet.yaml'), 'cannot read config file'],
    ['a directory', () => dirname(yamlFile('')), 'cannot read config file'],
    ['invalid YAML', () => yamlFile('agentId: a\n  listeners: [\n'), 'is not valid YAML'],
    ['a YAML tag meshlet does not know', () => yamlFile('agentId: !secret a\n'), 'remove the tag'],
  ])('reports %s as MESHLET_CONFIG_UNREADABLE, keeping the cause', (_what, path, text) => {
    const p = path();
    try {
      loadConfig(AgentConfig, { argv: ['--config', p], env: {} });
      throw new Error('expected an error');
    } catch (e) {
      expect(e).toBeInstanceOf(MeshletError);
      expect(e).not.toBeInstanceOf(ConfigError);
      expect((e as MeshletError).code).toBe('MESHLET_CONFIG_UNREADABLE');
      expect((e as MeshletError).message).toContain(text);
      expect((e as MeshletError).message).toContain(p);
      expect((e as MeshletError).cause).toBeInstanceOf(Error);
    }
  });
});
