/**
 * What the lock clients record, one JSON object a line in their history
 * file (appended synchronously, so that a client killed mid-run leaves what
 * it knew): each acquire with its outcome, each write with the resource's
 * answer, each release. Times are the client's own clock (ms); every
 * process of a run shares the machine's clock.
 */
export type LockEvent = AcquireEvent | WriteEvent | ReleaseEvent | RenewEvent;

/** Who holds a lock, as the agent's answer names it. */
export interface Holder {
  agentId?: string;
  instanceId?: string;
  label?: string;
}

/** One `POST /v1/locks/NAME` and its outcome. */
export interface AcquireEvent {
  type: 'acquire';
  client: string;
  /** When the request was sent, and when its answer came (or it failed). */
  invokedAt: number;
  returnedAt: number;
  /** The HTTP status; 0: no answer (connection refused, reset, timeout). */
  status: number;
  /** On 200: the fencing token and the holder. */
  token?: number;
  holder?: Holder;
  /** The agent's lease end (agent wall clock: request sent + TTL). */
  expiresAt?: number;
  /** On an error: its MESHLET_* code, or the client-side error. */
  code?: string;
}

/** One write of the resource with a token, as the client saw the answer. */
export interface WriteEvent {
  type: 'write';
  client: string;
  token: number;
  at: number;
  /** 200 accepted, 409 refused as stale, 0 no answer. */
  status: number;
  /** Written after the client's own lease had ended (a simulated pause): fencing must catch it if another held since. */
  late?: boolean;
}

/** One `PUT /v1/locks/NAME` {token}: 200 renewed, 409 lost, 503 or 0 in doubt (the lease lasts to its end). */
export interface RenewEvent {
  type: 'renew';
  client: string;
  token: number;
  at: number;
  status: number;
  code?: string;
}

/** One `DELETE /v1/locks/NAME?token=T`. */
export interface ReleaseEvent {
  type: 'release';
  client: string;
  token: number;
  at: number;
  status: number;
  code?: string;
}

/** Parses a client's history file (JSON lines); a torn last line (a kill mid-write) is dropped. */
export function parseHistory(text: string): LockEvent[] {
  const out: LockEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as LockEvent);
    } catch {
      // only the last line of a killed client can be torn
    }
  }
  return out;
}
