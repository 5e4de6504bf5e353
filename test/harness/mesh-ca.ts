import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl } from './certs.js';

/** The `identity.ca` settings of a control plane that signs with operator files. */
export interface CaFileSettings {
  source: 'files';
  trustBundleFile: string;
  issuerCertFile: string;
  issuerKeyFile: string;
  /** 32 random bytes (base64, 0600) that seal a root rotation's keys in the store: replicas on etcd can rotate. */
  stateKeyFile: string;
}

const V3 = [
  '[req]',
  'distinguished_name = dn',
  'prompt = no',
  '[dn]',
  'CN = placeholder',
  '[root]',
  'basicConstraints = critical,CA:TRUE,pathlen:1',
  'keyUsage = critical,keyCertSign,cRLSign',
  'subjectKeyIdentifier = hash',
  '[issuer]',
  'basicConstraints = critical,CA:TRUE,pathlen:0',
  'keyUsage = critical,keyCertSign,cRLSign',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid:always',
  '',
].join('\n');

/**
 * One mesh CA for every control plane of a test, as an operator gives
 * replicas (Linkerd-style trust anchor and issuer files, made by the real
 * openssl CLI, keys PKCS#8 ECDSA P-256, files 0600): replicas on etcd, or
 * control planes that do not share a store, then sign certificates that
 * every agent trusts. Made once per scratch directory (in its `mesh-ca/`),
 * with the state key every replica needs for `meshctl ca rotate`.
 */
export function sharedCa(scratchDir: string): CaFileSettings {
  const dir = join(scratchDir, 'mesh-ca');
  const settings: CaFileSettings = {
    source: 'files',
    trustBundleFile: join(dir, 'roots.pem'),
    issuerCertFile: join(dir, 'issuer.pem'),
    issuerKeyFile: join(dir, 'issuer-key.pem'),
    stateKeyFile: join(dir, 'ca-state.key'),
  };
  // issuer.pem is written last: a run that stopped midway starts over.
  if (existsSync(settings.issuerCertFile)) return settings;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'ca.cnf'), V3);
  // As `openssl rand -base64 32 > ca-state.key` would, without another child process.
  writeFileSync(settings.stateKeyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const key = (name: string) =>
    openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name]);
  key('root-key.pem');
  openssl(dir, [
    'req', '-x509', '-new', '-key', 'root-key.pem', '-subj', '/CN=meshlet test root', '-days', '2',
    '-config', 'ca.cnf', '-extensions', 'root', '-out', 'roots.pem',
  ]); // prettier-ignore
  key('issuer-key.pem');
  openssl(dir, [
    'req',
    '-new',
    '-key',
    'issuer-key.pem',
    '-subj',
    '/CN=meshlet test issuer',
    '-config',
    'ca.cnf',
    '-out',
    'issuer.csr',
  ]);
  openssl(dir, [
    'x509', '-req', '-in', 'issuer.csr', '-CA', 'roots.pem', '-CAkey', 'root-key.pem', '-CAcreateserial',
    '-days', '2', '-extfile', 'ca.cnf', '-extensions', 'issuer', '-out', 'issuer.pem',
  ]); // prettier-ignore
  for (const f of ['root-key.pem', 'issuer-key.pem', 'roots.pem', 'issuer.pem']) chmodSync(join(dir, f), 0o600);
  return settings;
}

/**
 * `extra` (a control plane's config) with {@link sharedCa} as its
 * `identity.ca` when it runs on etcd and names no CA of its own: replicas
 * must sign with one CA, and an etcd control plane has nowhere to keep a
 * generated one.
 */
export function withSharedCa(scratchDir: string, extra: Record<string, unknown>): Record<string, unknown> {
  const store = extra.store as { kind?: string } | undefined;
  const identity = (extra.identity ?? {}) as { ca?: unknown };
  if (store?.kind !== 'etcd' || identity.ca !== undefined) return extra;
  return { ...extra, identity: { ...identity, ca: sharedCa(scratchDir) } };
}
