import type { CoordKind, CoordState } from '@meshlet/shared';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Coordination } from '../coordination/coordination.js';
import type { CoordNotice } from '../coordination/coord-feed.js';
import { MAX_UNSENT_BYTES } from '../sharding/shard-event-stream.js';
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
 * own reconnects (holders get `doubt`, then `restored`). A reader that lets
 * more than {@link MAX_UNSENT_BYTES} wait unsent is cut off (as the shard
 * streams are); the stream's place among the open requests, its watch and
 * its timer go back when the app hangs up, even during the first read.
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
  const res = reply.raw;
  const write = (text: string): void => {
    if (res.destroyed || res.writableEnded) return;
    // A reader that does not read would make the agent hold every event for it: the shard streams' bound.
    if (res.writableLength > MAX_UNSENT_BYTES) {
      res.destroy();
      return;
    }
    res.write(text);
  };
  const event = (name: string, data: unknown): void => write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  const deliver = (n: CoordNotice): void => {
    if (!started) {
      queued.push(n);
      return;
    }
    if (n.type === 'state') {
      if (n.state.revision <= sent) return;
      sent = n.state.revision;
      event('state', {
        ...shape(n.state),
        ...(n.reason === undefined ? {} : { reason: n.reason }),
        ...(n.by ? { by: n.by } : {}),
      });
      return;
    }
    const { type, ...data } = n;
    event(type, data);
  };
  const stop = coordination.feed.subscribe(kind, name, deliver);
  const held: { heartbeat?: NodeJS.Timeout; offClose?: () => void } = {};
  let ended = false;
  // Its place, watch and timer go back whenever the app hangs up: attached before the first read, since an app
  // that hangs up while that read is in flight closes the response before any later listener could hear it.
  const end = (): void => {
    if (ended) return;
    ended = true;
    clearInterval(held.heartbeat);
    held.offClose?.();
    stop();
    give();
  };
  res.once('close', end);
  let first: CoordState;
  try {
    first = await coordination.leases.get(kind, name);
  } catch (e) {
    end();
    throw e;
  }
  reply.hijack();
  if (ended || res.destroyed || req.raw.destroyed) {
    end();
    res.destroy();
    return;
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  started = true;
  sent = first.revision;
  event('state', shape(first));
  for (const n of queued.splice(0)) deliver(n);
  held.heartbeat = setInterval(() => write(': heartbeat\n\n'), SSE_HEARTBEAT_MS);
  held.heartbeat.unref();
  // The agent stopping ends the stream, or its admin listener would wait for the app to hang up.
  held.offClose = coordination.onClose(() => res.end());
}
