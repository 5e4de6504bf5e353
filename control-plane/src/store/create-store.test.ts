import type { ControlPlaneConfig } from '@meshlet/shared';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkStore, etcdSecurity } from './create-store.js';

const store = (s: unknown) => ({ store: s }) as Pick<ControlPlaneConfig, 'store'>;

describe('checkStore', () => {
  it('names store.etcd.endpoints when the etcd store has none', () => {
    expect(
      checkStore(store({ kind: 'etcd', etcd: { endpoints: [], prefix: '/meshlet/', requestTimeoutMs: 3000 } })),
    ).toEqual([expect.objectContaining({ path: 'store.etcd.endpoints', problem: 'is required with store.kind etcd' })]);
  });

  it('accepts the file store without endpoints, and etcd with them', () => {
    expect(
      checkStore(store({ kind: 'file', etcd: { endpoints: [], prefix: '/meshlet/', requestTimeoutMs: 3000 } })),
    ).toEqual([]);
    expect(
      checkStore(
        store({
          kind: 'etcd',
          etcd: { endpoints: ['http://127.0.0.1:2379'], prefix: '/meshlet/', requestTimeoutMs: 3000 },
        }),
      ),
    ).toEqual([]);
  });
});

const etcd = (e: Record<string, unknown>) =>
  ({
    endpoints: ['https://127.0.0.1:2379'],
    prefix: '/meshlet/',
    requestTimeoutMs: 3000,
    leaseTtlSeconds: 2,
    replicaId: '',
    advertiseUrl: '',
    tls: {},
    ...e,
  }) as ControlPlaneConfig['store']['etcd'];

describe('checkStore: etcd TLS and user settings', () => {
  const paths = (e: Record<string, unknown>) => checkStore(store({ kind: 'etcd', etcd: etcd(e) })).map((i) => i.path);

  it('wants a client certificate and its key together', () => {
    expect(paths({ tls: { certFile: '/c.pem' } })).toEqual(['store.etcd.tls.keyFile']);
    expect(paths({ tls: { keyFile: '/k.pem' } })).toEqual(['store.etcd.tls.certFile']);
    expect(paths({ tls: { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' } })).toEqual([]);
  });

  it('wants https:// endpoints with TLS settings, naming the plain ones', () => {
    const issues = checkStore(
      store({
        kind: 'etcd',
        etcd: etcd({ endpoints: ['https://10.0.0.1:2379', 'http://10.0.0.2:2379'], tls: { caFile: '/ca.pem' } }),
      }),
    );
    expect(issues).toEqual([
      expect.objectContaining({
        path: 'store.etcd.endpoints',
        problem: expect.stringContaining('http://10.0.0.2:2379 is not'),
      }),
    ]);
  });

  it('wants a username and a password file together', () => {
    expect(paths({ username: 'meshlet' })).toEqual(['store.etcd.passwordFile']);
    expect(paths({ passwordFile: '/p' })).toEqual(['store.etcd.username']);
    expect(paths({ username: 'meshlet', passwordFile: '/p' })).toEqual([]);
  });
});

describe('etcdSecurity', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-etcd-security-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the password from the first line of its file', () => {
    const file = join(dir, 'password');
    writeFileSync(file, 's3cret-password\nignored\n');
    expect(etcdSecurity(etcd({ username: 'meshlet', passwordFile: file })).auth).toEqual({
      username: 'meshlet',
      password: 's3cret-password',
    });
  });

  it('refuses an empty password file and an unreadable one, naming the setting', () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    expect(() => etcdSecurity(etcd({ username: 'meshlet', passwordFile: empty }))).toThrow(
      /store\.etcd\.passwordFile .* is empty/,
    );
    expect(() => etcdSecurity(etcd({ username: 'meshlet', passwordFile: join(dir, 'absent') }))).toThrow(
      /cannot read store\.etcd\.passwordFile/,
    );
  });

  it('refuses files that are not PEM, naming store.etcd.tls', () => {
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate');
    expect(() => etcdSecurity(etcd({ tls: { certFile: junk, keyFile: junk } }))).toThrow(
      /store\.etcd\.tls cannot be used/,
    );
    expect(() => etcdSecurity(etcd({ tls: { caFile: join(dir, 'absent.pem') } }))).toThrow(
      /cannot read store\.etcd\.tls\.caFile/,
    );
  });

  it('is empty without TLS or user settings', () => {
    expect(etcdSecurity(etcd({}))).toEqual({});
  });
});
