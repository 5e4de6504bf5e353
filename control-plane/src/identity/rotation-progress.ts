import { certificateFingerprint } from '@meshlet/shared/identity';
import type { AgentRecord } from '../registry/agent-record.js';
import type { StoredCaState } from './stored-ca-state.js';

/** What a root rotation needs to know of one agent. */
export type AgentProgress = Pick<
  AgentRecord,
  'agentId' | 'connected' | 'trustGeneration' | 'certificateIssuer' | 'certificate' | 'replica' | 'instance'
> & { admittedFor?: string | undefined };

/** One agent a rotation step waits for, and why. */
export interface AgentBehind {
  agentId: string;
  service: string | undefined;
  /** `bundle`: it has not ACKed the bundle of this step; `certificate`: its certificate is not from the new issuer. */
  waitingFor: 'bundle' | 'certificate';
  trustGeneration: number | undefined;
  certificateIssuer: string | undefined;
}

/**
 * The connected agents a rotation step still waits for: while the bundle
 * changes (`adding-root`, `removing-root`), those that have not ACKed this
 * generation; while the issuer changes, those whose certificate is from
 * another issuer, and those not yet on this generation (they learn of the
 * new issuer from it). An agent of a replica that died (orphaned) is not
 * waited for: it will reconnect, and get the current bundle then. An agent
 * that holds no certificate at all is not waited for by the issuer step (it
 * has none to renew; its first one comes from the new issuer).
 */
export function behindOf(state: StoredCaState, activeIssuer: string, agents: readonly AgentProgress[]): AgentBehind[] {
  const out: AgentBehind[] = [];
  for (const a of agents) {
    if (!a.connected || a.replica?.orphaned === true) continue;
    const base = {
      agentId: a.agentId,
      service: a.instance?.service ?? a.admittedFor,
      trustGeneration: a.trustGeneration,
      certificateIssuer: a.certificateIssuer,
    };
    if (state.step === 'done') continue;
    if ((a.trustGeneration ?? -1) < state.generation) {
      out.push({ ...base, waitingFor: 'bundle' });
      continue;
    }
    if (
      state.step === 'switching-issuer' &&
      a.certificateIssuer !== undefined &&
      a.certificateIssuer !== activeIssuer
    ) {
      out.push({ ...base, waitingFor: 'certificate' });
    }
  }
  return out;
}

/** The fingerprint of the first certificate of a PEM list (the active issuer of a stored state). */
export function firstFingerprint(pems: readonly string[]): string | undefined {
  const first = pems[0];
  return first === undefined ? undefined : certificateFingerprint(first);
}
