import type { Health } from '@meshlet/shared';
import type { InstanceRoles } from '../health/instance-roles.js';
import type { AgentRecord } from '../registry/agent-record.js';
import type { Registry } from '../registry/registry.js';

/** Where the reported roles go: the control plane's record, and the other replicas (through the agent's registration). */
export interface RoleRecording {
  /** The control plane's record of roles and offsets (created once in the assembly). */
  roles: InstanceRoles;
  /** Publishes the agent's registration, its role and offset in it, to the other replicas (none when standalone). */
  replicate: (record: AgentRecord) => void;
}

/** What {@link applyHealth} needs of the session's context. */
export interface RolesContext {
  registry: Registry;
  /** Absent: roles are not recorded. */
  roles?: RoleRecording | undefined;
  clock: () => number;
}

/**
 * Applies an agent's `health` report (after the report guard let it
 * through): its app's status to the registry, and its check's role and
 * replication offset to `roles`, always under the instance the agent was
 * admitted with (its hello's, checked at admission). Nothing in the report
 * names an instance, and fields a report adds beyond the schema's are never
 * read: an agent speaks only for its own instance. A client-only agent, or
 * a stream the agent has since replaced, records no role.
 */
export function applyHealth(ctx: RolesContext, record: AgentRecord, health: Health): void {
  ctx.registry.health(record, health.status, health.reason);
  const instance = record.instance;
  if (!ctx.roles || !instance || !ctx.registry.current(record)) return;
  if (record.role !== health.role || record.replicationOffset !== health.replicationOffset) {
    record.role = health.role;
    record.replicationOffset = health.replicationOffset;
    // At most as often as the report guard admits reports: an offset moves once per check interval.
    ctx.roles.replicate(record);
  }
  ctx.roles.roles.record(instance.service, instance.id, {
    role: health.role,
    replicationOffset: health.replicationOffset,
    healthy: health.status === 'healthy',
    at: ctx.clock(),
  });
}
