import { ControlPlaneConfig, loadConfig } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { caSourceOf, certificateTtlMs, checkIdentity } from './identity-settings.js';

/** A control-plane config from the environment over the defaults, as the binary reads it. */
function config(env: Record<string, string> = {}): ControlPlaneConfig {
  return loadConfig(ControlPlaneConfig, { argv: [], env }).config;
}

describe('identity settings', () => {
  it('defaults to meshlet.local, 24 h leaves and a CA generated in the data directory', () => {
    const c = config({ MESHLET_DATA_DIR: '/var/lib/meshlet' });
    expect(c.identity.trustDomain).toBe('meshlet.local');
    expect(certificateTtlMs(c.identity)).toBe(24 * 3600_000);
    expect(checkIdentity(c)).toEqual([]);
    expect(caSourceOf(c)).toEqual({ kind: 'generated', dir: '/var/lib/meshlet/ca' });
  });

  it('on etcd, a CA source left to auto (a CA per replica, new at each restart: agents refuse each other) is a config error naming the fix', () => {
    const c = config();
    const etcd = { ...c, store: { ...c.store, kind: 'etcd' as const } };
    expect(checkIdentity(etcd)).toEqual([
      expect.objectContaining({ path: 'identity.ca.source', fix: expect.stringContaining('use files') }),
    ]);
    // A directory with auto on etcd would be silently ignored: said too.
    const withDir = { ...etcd, identity: { ...c.identity, ca: { ...c.identity.ca, dir: '/var/lib/meshlet/ca' } } };
    expect(checkIdentity(withDir).map((i) => i.path)).toEqual(['identity.ca.source', 'identity.ca.dir']);
    // Memory, set explicitly, is accepted (its consequences are the operator's).
    const memory = { ...etcd, identity: { ...c.identity, ca: { ...c.identity.ca, source: 'memory' as const } } };
    expect(checkIdentity(memory)).toEqual([]);
    expect(caSourceOf(memory)).toEqual({ kind: 'memory' });
  });

  it('refuses a lifetime that could expire before its renewal is allowed (under 5 s) or out of range, naming the field and the fix', () => {
    const c = config();
    for (const ttl of ['500ms', '2s', '4999ms', '9000h']) {
      expect(checkIdentity({ identity: { ...c.identity, certificateTtl: ttl } })).toEqual([
        expect.objectContaining({
          path: 'identity.certificateTtl',
          fix: expect.stringContaining('between 5s and 8784h'),
        }),
      ]);
    }
    expect(certificateTtlMs({ ...c.identity, certificateTtl: '5s' })).toBe(5000);
  });

  it('refuses operator files without source files, and source files without all three', () => {
    const c = config();
    const partial = { ...c.identity, ca: { ...c.identity.ca, source: 'files' as const, issuerCertFile: '/x.pem' } };
    expect(checkIdentity({ identity: partial }).map((i) => i.path)).toEqual([
      'identity.ca.trustBundleFile',
      'identity.ca.issuerKeyFile',
    ]);
    const stray = { ...c.identity, ca: { ...c.identity.ca, trustBundleFile: '/roots.pem' } };
    expect(checkIdentity({ identity: stray })).toEqual([
      expect.objectContaining({ path: 'identity.ca.trustBundleFile', fix: expect.stringContaining('source to files') }),
    ]);
  });
});
