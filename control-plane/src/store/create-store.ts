import { createSecureContext } from 'node:tls';
import {
  type ControlPlaneConfig,
  type Logger,
  MeshletError,
  readSettingFile,
  SharedErrorCodes,
  type ValidationIssue,
} from '@meshlet/shared';
import { type EtcdSecurity, EtcdStore } from './etcd-store.js';
import { FileStore } from './file-store.js';
import type { Store } from './store.js';

type EtcdConfig = ControlPlaneConfig['store']['etcd'];

/** Checks what the schema cannot: the etcd store needs members to talk to, and its TLS and user settings go in pairs. */
export function checkStore(config: Pick<ControlPlaneConfig, 'store'>): ValidationIssue[] {
  if (config.store.kind !== 'etcd') return [];
  const etcd = config.store.etcd;
  const issues: ValidationIssue[] = [];
  if (etcd.endpoints.length === 0) {
    issues.push({
      path: 'store.etcd.endpoints',
      problem: 'is required with store.kind etcd',
      fix: 'list the client URLs of the etcd members in the config file (store.etcd.endpoints: [http://10.0.0.1:2379, ...]), or set store.kind to file',
    });
  }
  const tls = etcd.tls ?? {};
  if (tls.certFile !== undefined && tls.keyFile === undefined) {
    issues.push({
      path: 'store.etcd.tls.keyFile',
      problem: 'is required with store.etcd.tls.certFile',
      fix: 'give the PEM private key of the client certificate, or unset store.etcd.tls.certFile',
    });
  }
  if (tls.keyFile !== undefined && tls.certFile === undefined) {
    issues.push({
      path: 'store.etcd.tls.certFile',
      problem: 'is required with store.etcd.tls.keyFile',
      fix: 'give the PEM client certificate of the key, or unset store.etcd.tls.keyFile',
    });
  }
  const usesTls = tls.caFile !== undefined || tls.certFile !== undefined;
  const plain = etcd.endpoints.filter((e) => !e.startsWith('https://'));
  if (usesTls && plain.length > 0) {
    issues.push({
      path: 'store.etcd.endpoints',
      problem: `must all be https:// URLs with store.etcd.tls set, but ${plain.join(', ')} ${plain.length === 1 ? 'is' : 'are'} not`,
      fix: 'use the https:// client URLs of the etcd members, or unset store.etcd.tls to talk plain HTTP',
    });
  }
  if (etcd.username !== undefined && etcd.passwordFile === undefined) {
    issues.push({
      path: 'store.etcd.passwordFile',
      problem: 'is required with store.etcd.username',
      fix: "give a file holding the etcd user's password, or unset store.etcd.username",
    });
  }
  if (etcd.passwordFile !== undefined && etcd.username === undefined) {
    issues.push({
      path: 'store.etcd.username',
      problem: 'is required with store.etcd.passwordFile',
      fix: 'name the etcd user the password belongs to, or unset store.etcd.passwordFile',
    });
  }
  return issues;
}

/**
 * Reads the files behind `store.etcd.tls`, `username` and `passwordFile` at
 * start. The client certificate and key are tried together here, so a
 * mismatch fails the start naming the settings rather than as an etcd
 * connection that never comes up.
 */
export function etcdSecurity(etcd: EtcdConfig): EtcdSecurity {
  const security: EtcdSecurity = {};
  const tls = etcd.tls ?? {};
  if (tls.caFile !== undefined || tls.certFile !== undefined) {
    const ca = tls.caFile === undefined ? undefined : readSettingFile('store.etcd.tls.caFile', tls.caFile);
    const cert = tls.certFile === undefined ? undefined : readSettingFile('store.etcd.tls.certFile', tls.certFile);
    const key = tls.keyFile === undefined ? undefined : readSettingFile('store.etcd.tls.keyFile', tls.keyFile);
    try {
      createSecureContext({ ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) });
    } catch (e) {
      throw new MeshletError(
        SharedErrorCodes.CONFIG_INVALID,
        `store.etcd.tls cannot be used: ${(e as Error).message}. Fix: give PEM files, and a client certificate (certFile) with its own unencrypted private key (keyFile)`,
        { cause: e },
      );
    }
    security.tls = { ...(ca ? { ca } : {}), ...(cert && key ? { cert, key } : {}) };
  }
  if (etcd.username !== undefined && etcd.passwordFile !== undefined) {
    const password =
      readSettingFile('store.etcd.passwordFile', etcd.passwordFile).toString('utf8').split(/\r?\n/)[0] ?? '';
    if (password === '') {
      throw new MeshletError(
        SharedErrorCodes.CONFIG_INVALID,
        `store.etcd.passwordFile ${etcd.passwordFile} is empty. Fix: write the etcd user's password on its first line`,
      );
    }
    security.auth = { username: etcd.username, password };
  }
  return security;
}

/** The store the config asks for: the embedded file store under `dataDir` (the default) or etcd. */
export function createStore(config: Pick<ControlPlaneConfig, 'store' | 'dataDir'>, log: Logger): Store {
  if (config.store.kind === 'file') return new FileStore(config.dataDir);
  const { endpoints, prefix, requestTimeoutMs } = config.store.etcd;
  return new EtcdStore({
    endpoints,
    prefix,
    requestTimeoutMs,
    ...etcdSecurity(config.store.etcd),
    log: log.child({ component: 'store' }),
  });
}
