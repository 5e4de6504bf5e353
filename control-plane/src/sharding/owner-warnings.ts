import { ownerOf, type ShardingPolicy } from '@meshlet/shared';
import { describeRange } from './shard-edits.js';

/** An endpoint as far as ownership goes. */
export interface OwnerCandidate {
  id: string;
  labels: Readonly<Record<string, string>>;
}

/**
 * The ranges whose owner matches no registered instance of the service now:
 * their keys get 503 (no healthy endpoint) until one registers. Not an
 * error (an operator may assign a range before its instance starts), but
 * said in the answer so that a typo does not go unseen.
 */
export function ownerWarnings(
  service: string,
  sharding: ShardingPolicy,
  endpoints: readonly OwnerCandidate[],
): string[] {
  const warnings: string[] = [];
  for (const range of sharding.ranges) {
    const owner = ownerOf(range);
    const owned =
      'instance' in owner
        ? endpoints.some((e) => e.id === owner.instance)
        : endpoints.some((e) =>
            Object.entries(owner.subset).every(([k, v]) => Object.hasOwn(e.labels, k) && e.labels[k] === v),
          );
    if (!owned)
      warnings.push(
        `range ${describeRange(range)}: no instance of "${service}" registered now matches its owner; its keys get 503 MESHLET_NO_HEALTHY_ENDPOINT until one does`,
      );
  }
  return warnings;
}
