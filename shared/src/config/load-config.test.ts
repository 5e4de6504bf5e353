import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, MeshletError, type ValidationIssue } from '../errors.js';
import { AgentConfig } from './agent-config.js';
import { ControlPlaneConfig } from './control-plane-config.js';
import { type ConfigSources, listSettings, loadConfig } from './load-config.js';

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

const agent = (argv: string[] = [], env: Record<string, string> = {}) =>
  loadConfig(AgentConfig, { argv: ['--agentId', 'a-1', ...argv], env });

describe('loadConfig', () => {
  it('fills defaults and freezes the result', () => {
    const { config } = loadConfig(ControlPlaneConfig, { argv: [], env: {} });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 15010 });
    expect(config.heartbeat.timeoutMs).toBe(3000);
    expect(Object.isFrozen(config.listen)).toBe(true);
  });

  it('layers file < environment < flags', () => {
    const file = yamlFile(
      'agentId: a\nlisteners:\n  outbound:\n    port: 1000\n  admin:\n    port: 1001\ncontrolPlane:\n  url: ws://file/v1/stream\n',
    );
    const { config } = loadConfig(AgentConfig, {
      argv: ['--config', file, '--listeners.outbound.port', '3000'],
      env: {
        MESHLET_LISTENERS_OUTBOUND_PORT: '2000',
        MESHLET_CONTROL_PLANE_URL: 'ws://env/v1/stream',
        MESHLET_LISTENERS_ADMIN_PORT: '',
      },
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

  it('answers --help without validating', () => {
    expect(loadConfig(AgentConfig, { argv: ['--help'], env: {} }).help).toBe(true);
  });

  it('derives environment names from setting paths and leaves maps to the file', () => {
    const settings = listSettings(AgentConfig);
    expect(settings).toContainEqual({
      path: 'controlPlane.joinToken',
      env: 'MESHLET_CONTROL_PLANE_JOIN_TOKEN',
      flag: '--controlPlane.joinToken',
    });
    expect(settings.some((s) => s.path.startsWith('instance.labels'))).toBe(false);
  });
});

// Each source on its own and against the others, every error kind with the
// path and fix it names, and the freeze.

describe('defaults', () => {
  it('treats an empty YAML file as no settings', () => {
    const { config, file } = loadConfig(ControlPlaneConfig, { argv: ['--config', yamlFile('')], env: {} });
    expect(config.listen.port).toBe(15010);
    expect(file).toMatch(/meshlet\.yaml$/);
  });
});

describe('sources and precedence', () => {
  const file = () =>
    yamlFile(
      'agentId: from-file\nlisteners:\n  outbound:\n    port: 1111\ncontrolPlane:\n  url: ws://file:1/v1/stream\n',
    );

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
    expect(
      agent(['--listeners.outbound.port', '1', '--listeners.outbound.port=2']).config.listeners.outbound.port,
    ).toBe(2);
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
    const { config } = agent([], {
      MESHLET_INSTANCE_SERVICE: 'orders',
      MESHLET_INSTANCE_APP_PORT: '8080',
      MESHLET_INSTANCE_ZONE: 'z1',
    });
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
        {
          path: 'instance.healthCheck.unhealthyThreshold',
          env: 'MESHLET_INSTANCE_HEALTH_CHECK_UNHEALTHY_THRESHOLD',
          flag: '--instance.healthCheck.unhealthyThreshold',
        },
        { path: 'log.level', env: 'MESHLET_LOG_LEVEL', flag: '--log.level' },
      ]),
    );
    expect(listSettings(ControlPlaneConfig)).toContainEqual({
      path: 'auth.allowInsecureRemote',
      env: 'MESHLET_AUTH_ALLOW_INSECURE_REMOTE',
      flag: '--auth.allowInsecureRemote',
    });
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
