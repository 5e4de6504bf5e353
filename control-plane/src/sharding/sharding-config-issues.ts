import { type ControlPlaneConfig, shardingPolicyIssues, type ValidationIssue } from '@meshlet/shared';

/** The config file's range maps, checked beyond their schema (order, overlap, integers, one owner each) at start. */
export function shardingConfigIssues(config: ControlPlaneConfig): ValidationIssue[] {
  return Object.entries(config.services).flatMap(([service, policy]) =>
    policy.sharding ? shardingPolicyIssues(policy.sharding, `services.${service}.sharding.`) : [],
  );
}
