import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkSecurity } from '@meshlet/control-plane';
import { AgentConfig, ControlPlaneConfig, loadConfig } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { ROOT } from './harness/mesh.js';

// The example configs of deploy/ha are read by the real loaders, with the
// secrets the env examples name, and pass the checks the binaries make at
// start: an operator who copies them gets a control plane that starts (its
// remote bind needs tokens) and agents that list every replica.

const HA = join(ROOT, 'deploy', 'ha');
/** A join credential as `meshctl token create --service orders` prints it. */
const CREDENTIAL = `mjc_0123456789abcdef_${'q'.repeat(43)}`;

/** The `NAME=value` lines of an env example, as systemd's EnvironmentFile reads them. */
function envFile(name: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(join(HA, name), 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1] as string] = m[2] as string;
  }
  return env;
}

describe('deploy/ha examples', () => {
  it('control-plane-1.yaml with control-plane.env.example: a valid etcd replica that passes the security check', () => {
    const env = envFile('control-plane.env.example');
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['MESHLET_AUTH_ADMIN_TOKEN']));
    // No shared join token: agents join with per-service credentials.
    expect(Object.keys(env)).not.toContain('MESHLET_AUTH_JOIN_TOKEN');
    const { config } = loadConfig(ControlPlaneConfig, { argv: ['--config', join(HA, 'control-plane-1.yaml')], env });
    expect(config.store.kind).toBe('etcd');
    expect(config.store.etcd.endpoints).toHaveLength(3);
    expect(config.store.etcd.replicaId).toBe('cp-1');
    expect(config.store.etcd.advertiseUrl).toMatch(/^https?:\/\//);
    expect(checkSecurity(config)).toEqual([]);
    // One CA for every replica: operator files (auto is a config error on etcd).
    expect(config.identity.ca.source).toBe('files');
    // Without the secrets, a remote bind is refused: the example is safe by default.
    const bare = loadConfig(ControlPlaneConfig, {
      argv: ['--config', join(HA, 'control-plane-1.yaml')],
      env: {},
    }).config;
    expect(checkSecurity(bare).length).toBeGreaterThan(0);
  });

  it('agent-ha.yaml: an agent that lists the three replicas', () => {
    const { config } = loadConfig(AgentConfig, {
      argv: ['--config', join(HA, 'agent-ha.yaml')],
      env: { MESHLET_CONTROL_PLANE_JOIN_TOKEN: CREDENTIAL },
    });
    expect(config.controlPlane.urls).toHaveLength(3);
    // Beyond loopback an agent refuses plain ws:// (issue 16): the example uses wss:// and names the CA.
    expect(config.controlPlane.urls?.every((u) => u.startsWith('wss://'))).toBe(true);
    expect(config.controlPlane.caFile).toBeDefined();
    expect(config.controlPlane.joinToken).toBe(CREDENTIAL);
  });
});
