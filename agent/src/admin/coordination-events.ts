import type { CoordKind, CoordState } from '@meshlet/shared';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Coordination } from '../coordination/coordination.js';
import type { CoordNotice } from '../coordination/coord-feed.js';
import { busy } from './coordination-reply.js';

/** How often an events stream sends a comment line, so that proxies and the app see it alive. */
export const SSE_HEARTBEAT_MS = 15_000;

/**
 * `GET …/events`: a server-sent events stream of one lock (or election).
 * First `state` (the current one, read from the control plane), then each
 * change as `state`, and for a lease this agent's app holds `lost`, `doubt`
 * and `restored`. `shape` turns a state into the event's data (an election
 * shows leader and term). Refused at once (503) when the agent has no
 * stream: the app retries; once open, a stream stays open across the agent's
 * own reconnects (holders get `doubt`, then `restored`).
 */
export async function streamCoordEvents(
  coordination: Coordination,
  kind: CoordKind,
  name: string,
  shape: (state: CoordState) => Record<string, unknown>,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const give = coordination.openRequests.take();
  if (give === undefined) return busy(reply, coordination);
  let sent = -1;
  const queued: CoordNotice[] = [];
  let started = false;
  const write = (event: string, data: unknown): void => {
    if (!reply.raw.destroyed) reply.raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const deliver = (n: CoordNotice): void => {
    if (!started) {
      queued.push(n);
      return;
    }
    if (n.type === 'state') {
      if (n.state.revision <= sent) return;
      sent = n.state.revision;
      write('state', {
        ...shape(n.state),
        ...(n.reason === undefined ? {} : { reason: n.reason }),
        ...(n.by ? { by: n.by } : {}),
      });
      return;
    }
    const { type, ...data } = n;
    write(type, data);
  };
  const stop = coordination.feed.subscribe(kind, name, deliver);
  let first: CoordState;
  try {
    first = await coordination.leases.get(kind, name);
  } catch (e) {
    stop();
    give();
    throw e;
  }
  reply.hijack();
  reply.raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  started = true;
  sent = first.revision;
  write('state', shape(first));
  for (const n of queued.splice(0)) deliver(n);
  const heartbeat = setInterval(() => {
    if (!reply.raw.destroyed) reply.raw.write(': heartbeat\n\n');
  }, SSE_HEARTBEAT_MS);
  heartbeat.unref();
  // The agent stopping ends the stream, or its admin listener would wait for the app to hang up.
  const offClose = coordination.onClose(() => reply.raw.end());
  reply.raw.on('close', () => {
    clearInterval(heartbeat);
    offClose();
    stop();
    give();
  });
  if (req.raw.destroyed) reply.raw.destroy();
}
