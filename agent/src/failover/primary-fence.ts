import type { InstanceRole } from '@meshlet/shared';

/** A caller's TCP connection as its preamble describes it: the role it wants and, for `primary`, the term it expects. */
export interface FencedRequest {
  service: string;
  role?: InstanceRole | undefined;
  term?: number | undefined;
}

/** Whether this agent's instance may serve a caller now, and if not why (a stable `MESHLET_*` code). */
export type FenceVerdict = { ok: true } | { ok: false; code: string; message: string };

/**
 * The callee side of fencing, for the inbound listener: the agent beside a
 * managed service's instance admits `role=primary` callers only while it
 * holds the failover election for exactly the term they name and its check
 * says primary, and closes what it admitted as primary the moment that stops.
 */
export interface PrimaryFence {
  admit(request: FencedRequest): FenceVerdict;
  /** Called when connections admitted as primary must close (a new term, a lost lease, a demote); returns a function that stops it. */
  onFence(listener: () => void): () => void;
}

/** The fence of an agent with no managed failover: everything is admitted, nothing is ever fenced. */
export const OPEN_FENCE: PrimaryFence = {
  admit: () => ({ ok: true }),
  onFence: () => () => {},
};
