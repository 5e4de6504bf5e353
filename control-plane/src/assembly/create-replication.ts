import type { Clock, ControlPlaneConfig, Logger } from '@meshlet/shared';
import { EtcdReplication } from '../ha/etcd-replication.js';
import type { Replication } from '../ha/replication.js';
import { StandaloneReplication } from '../ha/standalone-replication.js';
import { EtcdStore } from '../store/etcd-store.js';
import type { Store } from '../store/store.js';

/** The one place a single control plane and a replica part ways: replicas share an etcd store, a single control plane has any other. */
export function createReplication(store: Store, config: ControlPlaneConfig, log: Logger, clock: Clock): Replication {
  if (store instanceof EtcdStore) return new EtcdReplication({ store, config, log, clock });
  return new StandaloneReplication(clock, config.store.kind);
}
