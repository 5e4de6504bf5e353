import type { ControlPlaneConfig, Logger, ValidationIssue } from '@meshlet/shared';
import { EtcdStore } from './etcd-store.js';
import { FileStore } from './file-store.js';
import type { Store } from './store.js';

/** Checks what the schema cannot: the etcd store needs at least one member to talk to. */
export function checkStore(config: Pick<ControlPlaneConfig, 'store'>): ValidationIssue[] {
  if (config.store.kind !== 'etcd' || config.store.etcd.endpoints.length > 0) return [];
  return [
    {
      path: 'store.etcd.endpoints',
      problem: 'is required with store.kind etcd',
      fix: 'list the client URLs of the etcd members in the config file (store.etcd.endpoints: [http://10.0.0.1:2379, ...]), or set store.kind to file',
    },
  ];
}

/** The store the config asks for: the embedded file store under `dataDir` (the default) or etcd. */
export function createStore(config: Pick<ControlPlaneConfig, 'store' | 'dataDir'>, log: Logger): Store {
  if (config.store.kind === 'file') return new FileStore(config.dataDir);
  const { endpoints, prefix, requestTimeoutMs } = config.store.etcd;
  return new EtcdStore({ endpoints, prefix, requestTimeoutMs, log: log.child({ component: 'store' }) });
}
