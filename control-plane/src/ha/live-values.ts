import {
  AgentAge,
  AgentObservation,
  CampaignValue,
  compileValidator,
  type Logger,
  type Observations,
  PublishedTableEnvelope,
  type Routes,
  SignalBatchEnvelope,
  StoredEvent,
} from '@meshlet/shared';
import type { IKeyValue } from 'etcd3';
import type { MeshEvent } from '../events/event-log.js';

/** Who leads, as its campaign value says. */
export interface LeaderInfo {
  replicaId: string;
  url: string;
}

/** What a replica publishes every signal interval: its agents' liveness and their callers' observations. */
export interface SignalBatch {
  replica: string;
  /** Milliseconds since the replica last heard from each of its connected agents (ages, not clock times: replicas' clocks differ). */
  seen: Record<string, number>;
  /** Observation reports its agents sent since the last batch. */
  observations: { agentId: string; report: Observations; identity?: string }[];
}

/** The leader's current table, as followers adopt it. */
export type PublishedTable = Pick<Routes, 'version' | 'nonce' | 'services' | 'trust'>;

// The values other replicas wrote, checked against the shared schemas (see
// shared/src/protocol/replication.ts); what fails is ignored.
const validBatch = compileValidator(SignalBatchEnvelope);
const validAge = compileValidator(AgentAge);
const validObservation = compileValidator(AgentObservation);
const validTable = compileValidator(PublishedTableEnvelope);
const validEvent = compileValidator(StoredEvent);
const validReplicaId = compileValidator(CampaignValue.properties.replicaId);
const validUrl = compileValidator(CampaignValue.properties.url);

/** The text of an etcd key or value. */
export const text = (b: Buffer): string => b.toString('utf8');

/** The value of `kv` parsed as JSON; `undefined` (and a warning) if it is not JSON. */
export function jsonOf(kv: IKeyValue, log: Logger): unknown {
  try {
    return JSON.parse(text(kv.value)) as unknown;
  } catch (e) {
    log.warn({ key: text(kv.key), err: e }, 'replica link: a value is not JSON; ignored');
    return undefined;
  }
}

/** A signal batch, keeping the ages and reports that pass and dropping the others; `undefined` if its envelope does not. */
export function readSignalBatch(value: unknown): SignalBatch | undefined {
  const batch = validBatch(value);
  if (!batch.ok) return undefined;
  const seen: Record<string, number> = {};
  for (const [agentId, age] of Object.entries(batch.value.seen)) {
    const checked = validAge(age);
    if (checked.ok) seen[agentId] = checked.value;
  }
  const observations = batch.value.observations.flatMap((o) => {
    const checked = validObservation(o);
    return checked.ok ? [checked.value] : [];
  });
  return { replica: batch.value.replica, seen, observations };
}

/** The leader's table, if it has the shape the leader writes. */
export function readTable(value: unknown): PublishedTable | undefined {
  return validTable(value).ok ? (value as PublishedTable) : undefined;
}

/** The leader's latest decisions, keeping those that pass; `undefined` if the value is not a list. */
export function readEvents(value: unknown): MeshEvent[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.flatMap((e) => {
    const checked = validEvent(e);
    // A kind this replica does not know (a newer leader's) is listed as it came.
    return checked.ok ? [checked.value as MeshEvent] : [];
  });
}

/** The leader a campaign value names; a value that does not fit is an unknown candidate, without a URL. */
export function readLeaderInfo(value: string): LeaderInfo {
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    // Not ours: an unknown candidate.
  }
  const fields = (typeof v === 'object' && v !== null ? v : {}) as Partial<Record<keyof LeaderInfo, unknown>>;
  const replicaId = validReplicaId(fields.replicaId);
  const url = validUrl(fields.url);
  return { replicaId: replicaId.ok ? replicaId.value.slice(0, 128) : 'unknown', url: url.ok ? url.value : '' };
}
