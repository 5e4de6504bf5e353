import { describe, expect, it } from 'vitest';
import { AgentConfig } from './agent-config.js';
import { ControlPlaneConfig } from './control-plane-config.js';
import { listSettings, loadConfig } from './load-config.js';
import { useYamlFiles } from './test-support/yaml-file.js';

// Where loadConfig takes each setting from: the file, then the MESHLET_*
// environment variables, then the flags, each over the one before; and the
// environment names and flags listSettings derives from the schema.

const yamlFile = useYamlFiles();

const agent = (argv: string[] = [], env: Record<string, string> = {}) =>
  loadConfig(AgentConfig, { argv: ['--agentId', 'a-1', ...argv], env });

describe('sources and precedence', () => {
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

describe('listSettings', () => {
  it('derives environment names from setting paths and leaves maps to the file', () => {
    const settings = listSettings(AgentConfig);
    expect(settings).toContainEqual({
      path: 'controlPlane.joinToken',
      env: 'MESHLET_CONTROL_PLANE_JOIN_TOKEN',
      flag: '--controlPlane.joinToken',
    });
    expect(settings.some((s) => s.path.startsWith('instance.labels'))).toBe(false);
  });

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
