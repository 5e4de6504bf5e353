import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, MeshletError, type ValidationIssue } from '../errors.js';
import { AgentConfig } from './agent-config.js';
import { ControlPlaneConfig } from './control-plane-config.js';
import { type ConfigSources, listSettings, loadConfig } from './load-config.js';

// Complements load-config.test.ts: each source on its own and against the
// others, every error kind with the path and fix it names, and the freeze.

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function yamlFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-cfg-'));
  dirs.push(dir);
  const file = join(dir, 'meshlet.yaml');
  writeFileSync(file, text);
  return file;
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

const agent = (argv: string[] = [], env: Record<string, string> = {}) => loadConfig(AgentConfig, { argv: ['--agentId', 'a-1', ...argv], env });

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

  it('fills the control-plane defaults from nothing', () => {
    const { config } = loadConfig(ControlPlaneConfig, { argv: [], env: {} });
    expect(config.push).toEqual({ debounceMs: 20, maxDelayMs: 500, startupGraceMs: 3000 });
    expect(config.auth).toEqual({ allowInsecureRemote: false });
    expect(config.registry.forgetAfterMs).toBe(300_000);
  });

  it('treats an empty YAML file as no settings', () => {
    const { config, file } = loadConfig(ControlPlaneConfig, { argv: ['--config', yamlFile('')], env: {} });
    expect(config.listen.port).toBe(15010);
    expect(file).toMatch(/meshlet\.yaml$/);
  });
});

describe('sources and precedence', () => {
  const file = () => yamlFile('agentId: from-file\nlisteners:\n  outbound:\n    port: 1111\ncontrolPlane:\n  url: ws://file:1/v1/stream\n');

  it('takes a value from the file when nothing else sets it', () => {
    const { config } = loadConfig(AgentConfig, { argv: ['--config', file()], env: {} });
    expect(config.listeners.outbound.port).toBe(1111);
    expect(config.controlPlane.url).toBe('ws://file:1/v1/stream');
    expect(config.agentId).toBe('from-file');
  });

  it('lets the environment override the file, and turns its strings into numbers', () => {
    const { config } = loadConfig(AgentConfig, {
      argv: ['--config', file()],
      env: { MESHLET_LISTENERS_OUTBOUND_PORT: '2222', MESHLET_CONTROL_PLANE_URL: 'wss://env:2/v1/stream' },
    });
    expect(config.listeners.outbound.port).toBe(2222);
    expect(config.controlPlane.url).toBe('wss://env:2/v1/stream');
  });

  it('lets flags override the environment, in both flag forms', () => {
    const env = { MESHLET_LISTENERS_OUTBOUND_PORT: '2222', MESHLET_CONTROL_PLANE_URL: 'ws://env:2/v1/stream' };
    const { config } = loadConfig(AgentConfig, {
      argv: ['--config', file(), '--listeners.outbound.port', '1234', '--controlPlane.url=ws://flag:3/v1/stream?a=b'],
      env,
    });
    expect(config.listeners.outbound.port).toBe(1234);
    // Only the first "=" splits name from value.
    expect(config.controlPlane.url).toBe('ws://flag:3/v1/stream?a=b');
  });

  it('applies the last of two flags for the same setting', () => {
    expect(agent(['--listeners.outbound.port', '1', '--listeners.outbound.port=2']).config.listeners.outbound.port).toBe(2);
  });

  it('reads only the MESHLET_* names derived from the schema', () => {
    const { config } = agent([], { PORT: '1', LISTENERS_OUTBOUND_PORT: '2', meshlet_listeners_outbound_port: '3' });
    expect(config.listeners.outbound.port).toBe(15001);
  });

  it('turns "false" from the environment into a boolean and takes a log level', () => {
    const { config } = agent([], { MESHLET_LISTENERS_OUTBOUND_ENABLED: 'false', MESHLET_LOG_LEVEL: 'debug' });
    expect(config.listeners.outbound.enabled).toBe(false);
    expect(config.log.level).toBe('debug');
  });

  it('builds an instance from environment variables alone', () => {
    const { config } = agent([], { MESHLET_INSTANCE_SERVICE: 'orders', MESHLET_INSTANCE_APP_PORT: '8080', MESHLET_INSTANCE_ZONE: 'z1' });
    expect(config.instance).toMatchObject({ service: 'orders', zone: 'z1', app: { host: '127.0.0.1', port: 8080 } });
  });

  it('accepts -c as --config', () => {
    const { config, file: read } = loadConfig(AgentConfig, { argv: ['-c', file()], env: {} });
    expect(config.agentId).toBe('from-file');
    expect(read).toMatch(/meshlet\.yaml$/);
  });
});

describe('the result', () => {
  it('is frozen all the way down, labels included', () => {
    const file = yamlFile('agentId: a\ninstance:\n  service: s\n  labels:\n    role: primary\n  app:\n    port: 80\n');
    const { config } = loadConfig(AgentConfig, { argv: ['--config', file], env: {} });
    const instance = config.instance;
    if (!instance) throw new Error('expected an instance');
    for (const o of [config, config.listeners, config.listeners.outbound, config.controlPlane, instance, instance.labels, instance.app, instance.healthCheck]) {
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

describe('errors', () => {
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
    expect(onlyIssue(configError(AgentConfig, { argv: ['--agentId', 'a', '--proxy.connectTimeoutMs=many'], env: {} }))).toEqual({
      path: 'proxy.connectTimeoutMs',
      problem: 'must be of type integer',
      fix: expect.stringContaining('integer'),
    });
  });

  it('names an out-of-range value from the environment, in either direction', () => {
    expect(onlyIssue(configError(AgentConfig, { argv: ['--agentId', 'a'], env: { MESHLET_LISTENERS_OUTBOUND_PORT: '70000' } }))).toMatchObject({
      path: 'listeners.outbound.port',
      problem: 'must be <= 65535',
    });
    expect(onlyIssue(configError(AgentConfig, { argv: ['--agentId', 'a'], env: { MESHLET_PROXY_CONNECT_TIMEOUT_MS: '5' } }))).toMatchObject({
      path: 'proxy.connectTimeoutMs',
      problem: 'must be >= 10',
    });
  });

  it('names a missing required field with where to add it', () => {
    expect(onlyIssue(configError(AgentConfig, { argv: [], env: {} }))).toEqual({ path: 'agentId', problem: 'is required but missing', fix: 'add "agentId"' });
    const issue = onlyIssue(configError(AgentConfig, { argv: ['--agentId', 'a', '--instance.service', 'orders'], env: {} }));
    expect(issue).toEqual({ path: 'instance.app', problem: 'is required but missing', fix: 'add "app" under "instance"' });
  });

  it('names an unknown flag, a stray word and an unknown short option', () => {
    const e = configError(AgentConfig, { argv: ['--listeners.outbound.prot=1', 'stray', '-x'], env: {} });
    expect(e.issues.map((i) => i.path)).toEqual(['--listeners.outbound.prot', '(an argument that is not a flag)', '-x']);
    for (const i of e.issues) expect(i).toMatchObject({ problem: 'is not a known flag', fix: 'run with --help to list the flags' });
    expect(e.message).toContain('command-line flags');
  });

  it('never echoes the value of a mistyped flag, which may be a secret (regression: review finding)', () => {
    const e = configError(AgentConfig, { argv: ['--agentId', 'a', '--controlplane.jointoken', 's3cr3t-value'], env: {} });
    expect(e.message).not.toContain('s3cr3t-value');
    expect(e.issues.map((i) => i.path)).toEqual(['--controlplane.jointoken']);
  });

  it('refuses a map setting (labels) as a flag: maps are set in the file', () => {
    expect(onlyIssue(configError(AgentConfig, { argv: ['--agentId', 'a', '--instance.labels.role=x'], env: {} })).path).toBe('--instance.labels.role');
  });

  it('names a flag without a value, at the end or before another flag', () => {
    const e = configError(AgentConfig, { argv: ['--listeners.outbound.port', '--agentId'], env: {} });
    expect(e.issues).toEqual([
      { path: 'listeners.outbound.port', problem: 'flag --listeners.outbound.port needs a value', fix: 'pass --listeners.outbound.port=VALUE' },
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
    ['a directory', () => mkdtempSync(join(tmpdir(), 'meshlet-cfg-dir-')), 'cannot read config file'],
    ['invalid YAML', () => yamlFile('agentId: a\n  listeners: [\n'), 'is not valid YAML'],
  ])('reports %s as MESHLET_CONFIG_UNREADABLE, keeping the cause', (_what, path, text) => {
    const p = path();
    if (!p.endsWith('.yaml')) dirs.push(p);
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

describe('--help', () => {
  it('returns help: true, as --help or -h, even beside bad flags and a missing file', () => {
    for (const argv of [['--help'], ['-h'], ['--nope', '--help'], ['--config', '/nonexistent.yaml', '-h']]) {
      const r = loadConfig(AgentConfig, { argv, env: { MESHLET_LISTENERS_OUTBOUND_PORT: 'bad' } });
      expect(r.help).toBe(true);
    }
  });
});

describe('listSettings', () => {
  it('derives SCREAMING_SNAKE environment names and flags from camelCase paths', () => {
    const settings = listSettings(AgentConfig);
    expect(settings).toEqual(
      expect.arrayContaining([
        { path: 'agentId', env: 'MESHLET_AGENT_ID', flag: '--agentId' },
        { path: 'controlPlane.joinToken', env: 'MESHLET_CONTROL_PLANE_JOIN_TOKEN', flag: '--controlPlane.joinToken' },
        { path: 'listeners.outbound.port', env: 'MESHLET_LISTENERS_OUTBOUND_PORT', flag: '--listeners.outbound.port' },
        { path: 'instance.healthCheck.unhealthyThreshold', env: 'MESHLET_INSTANCE_HEALTH_CHECK_UNHEALTHY_THRESHOLD', flag: '--instance.healthCheck.unhealthyThreshold' },
        { path: 'log.level', env: 'MESHLET_LOG_LEVEL', flag: '--log.level' },
      ]),
    );
    expect(listSettings(ControlPlaneConfig)).toContainEqual({ path: 'auth.allowInsecureRemote', env: 'MESHLET_AUTH_ALLOW_INSECURE_REMOTE', flag: '--auth.allowInsecureRemote' });
  });

  it('lists leaves only, skipping records such as labels and the objects that hold leaves', () => {
    const paths = listSettings(AgentConfig).map((s) => s.path);
    expect(paths).not.toContain('instance.labels');
    expect(paths).not.toContain('instance');
    expect(paths).not.toContain('listeners.outbound');
    expect(paths).toContain('instance.app.port');
  });

  it('gives every setting its own environment variable', () => {
    for (const schema of [AgentConfig, ControlPlaneConfig]) {
      const envs = listSettings(schema).map((s) => s.env);
      expect(new Set(envs).size).toBe(envs.length);
      for (const env of envs) expect(env).toMatch(/^MESHLET_[A-Z0-9_]+$/);
    }
  });
});
