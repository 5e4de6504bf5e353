import type { Clock } from '@meshlet/shared';
import type { ClusterView, Replication } from './replication.js';

/** A control plane alone (file store): it always decides and has nobody to tell. */
export class StandaloneReplication implements Replication {
  readonly leading = true;
  readonly #since: number;
  readonly #store: ClusterView['store'];

  /** `store`: the kind the config names, for the view. */
  constructor(clock: Clock, store: ClusterView['store']) {
    this.#since = clock();
    this.#store = store;
  }

  view(): ClusterView {
    return { replicaId: 'standalone', role: 'standalone', leader: null, since: this.#since, store: this.#store };
  }

  following(): undefined {
    return undefined;
  }

  refusal(): undefined {
    return undefined;
  }

  attach(): void {}

  async start(): Promise<void> {}

  vouch(): void {}

  changed(): void {}

  forgotten(): void {}

  observed(): void {}

  tableMade(): void {}

  decided(): void {}

  async close(): Promise<void> {}
}
