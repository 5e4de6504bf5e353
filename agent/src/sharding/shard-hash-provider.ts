import { setImmediate as turn } from 'node:timers/promises';
import {
  type BalancerPolicy,
  buildsInSlices,
  type HashMember,
  type HashRing,
  type MaglevTable,
  maglevTableSteps,
  ringSteps,
  tableChecksumSteps,
} from '@meshlet/shared';
import { hashTableKey } from '../balancer/hash-table-cache.js';
import { AgentErrors } from '../errors.js';
import type { RouteTable } from '../route/route-table.js';
import { BuiltHashTable, HashShardMap } from './shard-hash-map.js';
import type { ShardMapProvider, ShardMapResult } from './shard-map.js';

/** Whether a balancer kind gives every key one owner: the two consistent-hash balancers. */
export function isHashSharded(policy: BalancerPolicy): boolean {
  return policy.kind === 'ring_hash' || policy.kind === 'maglev';
}

/**
 * The shard maps of the hash-balanced services (`ring_hash`, `maglev`),
 * built from their published rings. Each service's table is built once per
 * ring membership and policy (a large one in slices that yield to the event
 * loop, as the balancers' own are), and shared by every request and stream
 * until the ring changes.
 */
export class HashShardProvider implements ShardMapProvider {
  readonly #built = new Map<string, { key: string; table: Promise<BuiltHashTable> }>();

  async mapOf(service: string, table: RouteTable): Promise<ShardMapResult | undefined> {
    for (const name of this.#built.keys()) if (table.service(name) === undefined) this.#built.delete(name);
    const policy = table.service(service)?.policy.balancer;
    if (policy === undefined || !isHashSharded(policy)) return undefined;
    const routes = table.routes.services[service];
    const ring = routes?.ring;
    if (ring === undefined || ring.members.length === 0) {
      return {
        refusal: AgentErrors.NO_HEALTHY_ENDPOINT(
          `service "${service}" is balanced by ${policy.kind} but has no published ring in routing table version ${table.version}: none of its instances is healthy; its keys have no owner until one is`,
        ),
      };
    }
    const key = hashTableKey(policy, ring.members) as string;
    let entry = this.#built.get(service);
    if (entry?.key !== key) {
      const made = { key, table: build(policy, ring.members) };
      // A build that failed is not kept: the next call tries again rather than failing for good.
      made.table.catch(() => this.#built.get(service) === made && this.#built.delete(service));
      this.#built.set(service, made);
      entry = made;
    }
    return {
      map: new HashShardMap(
        service,
        await entry.table,
        ring,
        routes?.endpoints ?? [],
        table.version,
        policy.hashKey?.source,
      ),
    };
  }
}

/** Builds the table and its checksum, yielding to the event loop between slices when the table is large. */
async function build(policy: BalancerPolicy, members: readonly HashMember[]): Promise<BuiltHashTable> {
  const sliced = buildsInSlices(policy);
  const steps: Generator<void, HashRing | MaglevTable, void> =
    policy.kind === 'maglev'
      ? maglevTableSteps(members, policy.maglevTableSize)
      : ringSteps(members, policy.ringMinSize);
  const table = await drive(steps, sliced);
  return new BuiltHashTable(table, await drive(tableChecksumSteps(table), sliced));
}

async function drive<T>(steps: Generator<void, T, void>, sliced: boolean): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    if (sliced) await turn();
  }
}
