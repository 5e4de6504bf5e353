import { type CoordState, httpErrorBody } from '@meshlet/shared';
import type { FastifyReply } from 'fastify';
import type { Coordination } from '../coordination/coordination.js';
import { AgentErrors } from '../errors.js';

/** 429 `MESHLET_COORDINATION_BUSY`: the agent holds as many open coordination requests as it allows. */
export function busy(reply: FastifyReply, coordination: Coordination): void {
  const max = coordination.openRequests.max;
  const err = AgentErrors.COORDINATION_BUSY(
    `the app already holds ${max} open coordination requests on this agent (events streams, long-polls, waiting ` +
      'acquires, campaigns), the most it allows: close some (one events stream per lock is enough) and retry',
  );
  void reply.code(err.statusCode).header('retry-after', '1').send(httpErrorBody(err));
}

/** 409 `MESHLET_LOCK_HELD` naming the holder and its token (an election: the leader and its term). */
export function heldBy(
  reply: FastifyReply,
  what: string,
  state: CoordState | undefined,
  waitedMs: number,
  election: boolean,
): void {
  const holder = state?.holder;
  const who = holder === undefined ? 'someone else' : `agent ${holder.agentId} (instance ${holder.instanceId})`;
  const err = AgentErrors.LOCK_HELD(
    `${what} is held by ${who}${waitedMs > 0 ? ` after waiting ${waitedMs} ms` : ''}: wait for its release ` +
      '(the events stream, or GET with index and waitMs) and ask again, or ask with a waitMs',
  );
  const extra = election
    ? { leader: holder ?? null, term: state?.token ?? null, revision: state?.revision ?? 0 }
    : { holder: holder ?? null, token: state?.token ?? null, revision: state?.revision ?? 0 };
  void reply.code(err.statusCode).send(httpErrorBody(err, extra));
}

/**
 * An AbortSignal that fires when the app closes its request before the
 * answer went out: a waiting acquire or a campaign is then cancelled.
 */
export function appGoneSignal(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableEnded) ac.abort();
  });
  return ac.signal;
}

/**
 * `GET /v1/locks/NAME` and `GET /v1/elections/NAME`: the state now, or with
 * `index` a long-poll answered as soon as the state's revision is above it
 * (or at `waitMs`, default 30 s, with the latest state).
 */
export async function readState(
  coordination: Coordination,
  kind: CoordState['kind'],
  name: string,
  query: { index?: number | undefined; waitMs?: number | undefined },
  reply: FastifyReply,
): Promise<CoordState | undefined> {
  if (query.index === undefined) return coordination.leases.get(kind, name);
  const give = coordination.openRequests.take();
  if (give === undefined) {
    busy(reply, coordination);
    return undefined;
  }
  try {
    return await coordination.leases.waitForChange(
      kind,
      name,
      query.index,
      query.waitMs ?? 30_000,
      appGoneSignal(reply),
    );
  } finally {
    give();
  }
}
