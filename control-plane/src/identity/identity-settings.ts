import { join } from 'node:path';
import { type ControlPlaneConfig, parseDuration, type ValidationIssue } from '@meshlet/shared';
import type { CaSource } from './certificate-authority.js';

type IdentityConfig = ControlPlaneConfig['identity'];

/**
 * Shortest workload certificate lifetime, 5 s: a stream may ask once a
 * second and X.509 dates are whole seconds, so a leaf of 1-2 s could expire
 * before its renewal was allowed; at 5 s the renewal (at about 3.5 s) has
 * room for a refused first try.
 */
export const MIN_TTL_MS = 5000;
/** Longest: a year and a day, the issuer's own default lifetime (no leaf outlives its issuer anyway). */
const MAX_TTL_MS = 8784 * 3600_000;

/**
 * Checks what the schema cannot: the lifetime's range, that operator CA files
 * come as a set, and, on etcd, that the CA source was chosen: `auto` there
 * would give every replica its own CA in memory, a new one at each restart,
 * and agents of different replicas (or before and after a failover) would
 * refuse each other.
 */
export function checkIdentity(
  config: Pick<ControlPlaneConfig, 'identity'> & { store?: { kind: string } },
): ValidationIssue[] {
  const identity = config.identity;
  const issues: ValidationIssue[] = [];
  if (config.store?.kind === 'etcd' && identity.ca.source === 'auto') {
    issues.push({
      path: 'identity.ca.source',
      problem:
        'is auto (the default), but with store.kind etcd a CA cannot be generated into the shared state: each ' +
        'replica would make its own in memory, a new one at every restart, and agents of different replicas would ' +
        "refuse each other's certificates",
      fix:
        'use files: set identity.ca.source to files and give every replica the same trustBundleFile, issuerCertFile ' +
        'and issuerKeyFile (docs/security.md); or set identity.ca.source to memory explicitly and accept that ' +
        'every restart or failover makes a new CA (agents then ask for new certificates, and mTLS between agents ' +
        'certified before and after fails until they have)',
    });
    if (identity.ca.dir !== undefined)
      issues.push({
        path: 'identity.ca.dir',
        problem: 'is set, but with store.kind etcd and identity.ca.source auto no CA is written there',
        fix: "set identity.ca.source to generated to keep this replica's own CA there (not shared), or use files",
      });
  }
  const ttl = parseDuration(identity.certificateTtl);
  if (ttl === undefined || ttl < MIN_TTL_MS || ttl > MAX_TTL_MS) {
    issues.push({
      path: 'identity.certificateTtl',
      problem: `is ${JSON.stringify(identity.certificateTtl)}, outside 5s to 8784h`,
      fix: 'write a duration between 5s and 8784h, such as 24h (the default) or 20s for tests',
    });
  }
  const files = ['trustBundleFile', 'issuerCertFile', 'issuerKeyFile'] as const;
  if (identity.ca.source === 'files') {
    for (const f of files) {
      if (identity.ca[f] === undefined)
        issues.push({
          path: `identity.ca.${f}`,
          problem: 'is required with identity.ca.source files',
          fix: 'give the trust bundle, the issuer certificate and the issuer key files, or set identity.ca.source to generated',
        });
    }
  } else {
    for (const f of files) {
      if (identity.ca[f] !== undefined)
        issues.push({
          path: `identity.ca.${f}`,
          problem: `is set, but identity.ca.source is ${identity.ca.source}, which reads no files`,
          fix: 'set identity.ca.source to files to use your own CA, or remove the file settings',
        });
    }
  }
  if (identity.ca.dir !== undefined && !['auto', 'generated'].includes(identity.ca.source)) {
    issues.push({
      path: 'identity.ca.dir',
      problem: `is set, but identity.ca.source is ${identity.ca.source}, which writes no directory`,
      fix: 'set identity.ca.source to generated, or remove identity.ca.dir',
    });
  }
  return issues;
}

/** The lifetime of a workload certificate, in ms (the config was checked by {@link checkIdentity}). */
export function certificateTtlMs(identity: IdentityConfig): number {
  return parseDuration(identity.certificateTtl) ?? 24 * 3600_000;
}

/**
 * Where the CA comes from. `auto` generates it into the data directory with
 * the file store, whose state lives there; with etcd the data directory is
 * not the mesh's state (each replica has its own), so `auto` is a config
 * error there ({@link checkIdentity}): replicas are given the same operator
 * files, or `memory` explicitly. (`auto` on etcd still means memory here,
 * for callers that did not run the check.)
 */
export function caSourceOf(config: Pick<ControlPlaneConfig, 'identity' | 'dataDir' | 'store'>): CaSource {
  const ca = config.identity.ca;
  const source = ca.source === 'auto' ? (config.store.kind === 'file' ? 'generated' : 'memory') : ca.source;
  if (source === 'memory') return { kind: 'memory' };
  if (source === 'files') {
    return {
      kind: 'files',
      trustBundleFile: ca.trustBundleFile ?? '',
      issuerCertFile: ca.issuerCertFile ?? '',
      issuerKeyFile: ca.issuerKeyFile ?? '',
    };
  }
  return { kind: 'generated', dir: ca.dir ?? join(config.dataDir, 'ca') };
}
