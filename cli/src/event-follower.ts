import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from '@meshlet/shared/backoff';
import { type AdminClient, streamError } from './admin-client.js';
import { CliError, CliErrorCodes } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import type { Colors } from './colors.js';
import { displayUrl } from './connection.js';
import type { OutputFormat } from './output.js';
import { cell } from './resources.js';
import { SseParser } from './sse-parser.js';
import { truncate } from './text.js';

/** A mesh event as `/v1/events` shows it. */
export interface MeshEventView {
  seq: number;
  time?: string;
  kind?: string;
  service?: string;
  instance?: string | null;
  from?: string;
  to?: string;
  reason?: string;
  [key: string]: unknown;
}

/** Reconnect delays: full jitter over 250 ms doubling to 10 s, never below 250 ms. */
const BACKOFF = { initialMs: 500, maxMs: 10_000, floorMs: 250 };

/** Statuses worth retrying: the server is restarting, overloaded or behind a proxy that is. */
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/**
 * One event as one line: time, kind, service/instance, from→to, reason. In
 * JSON it is one compact object per line (NDJSON), in YAML one document per
 * event. On a terminal the line is cut to its width.
 */
export function formatEventLine(
  e: MeshEventView,
  format: OutputFormat,
  colors: Colors,
  width: number | undefined,
): string {
  if (format === 'json') return `${JSON.stringify(e)}\n`;
  const target = e.instance ? `${cell(e.service)}/${cell(e.instance)}` : cell(e.service);
  const fromTo = `${cell(e.from)}→${cell(e.to)}`;
  const plain = [
    cell(e.time).padEnd(24),
    cell(e.kind).padEnd(8),
    target.padEnd(24),
    fromTo.padEnd(26),
    cell(e.reason),
  ].join(' ');
  const line = (width === undefined ? plain : truncate(plain, width)).trimEnd();
  const painted =
    e.to === 'unhealthy'
      ? line.replace(fromTo, colors.red(fromTo))
      : e.to === 'healthy'
        ? line.replace(fromTo, colors.green(fromTo))
        : line;
  return `${painted}\n`;
}

/** Options of {@link followEvents}. */
export interface FollowOptions {
  /** Query string of the filters, such as `service=hello&kind=health` (no `after`). */
  filters: URLSearchParams;
  /** Resume after this sequence number. */
  afterSeq: number;
  /** Prints one event. */
  print: (e: MeshEventView) => void;
}

/**
 * Follows `/v1/events/stream` until Ctrl-C (`io.interrupt`), then
 * resolves. A lost or ended stream is reopened with exponential backoff and
 * full jitter, resuming after the last sequence number printed (`after` and
 * `Last-Event-ID`), so no event is shown twice and none between two
 * connections is missed while the server's log still holds it. A refusal
 * that a retry cannot fix (a bad token, a bad filter, a server without the
 * route) ends the command with that error.
 */
export async function followEvents(client: AdminClient, io: CliIo, options: FollowOptions): Promise<void> {
  const signal = io.interrupt?.() ?? new AbortController().signal;
  let lastSeq = options.afterSeq;
  let attempt = 0;
  const server = displayUrl(client.connection.server);
  while (!signal.aborted) {
    let reason: string;
    try {
      const q = new URLSearchParams(options.filters);
      q.set('after', String(lastSeq));
      const res = await client.stream(`/v1/events/stream?${q}`, { 'last-event-id': String(lastSeq) }, signal);
      const parser = new SseParser();
      res.body.setEncoding('utf8');
      for await (const chunk of res.body as AsyncIterable<string>) {
        attempt = 0;
        for (const ev of parser.push(chunk)) {
          if (ev.event !== 'mesh-event') continue;
          let e: MeshEventView;
          try {
            e = JSON.parse(ev.data) as MeshEventView;
          } catch {
            io.stderr.write(`meshctl: skipped an event that is not JSON (id ${cell(ev.id)})\n`);
            continue;
          }
          const seq = typeof e.seq === 'number' ? e.seq : Number(ev.id);
          if (Number.isFinite(seq) && seq <= lastSeq) continue;
          if (Number.isFinite(seq)) lastSeq = seq;
          options.print(e);
        }
      }
      reason = 'the server ended the stream';
    } catch (e) {
      if (signal.aborted) break;
      const err = streamError(e, client.connection);
      if (err.code !== CliErrorCodes.UNREACHABLE && !(err.status !== undefined && RETRY_STATUSES.has(err.status)))
        throw err;
      // The first clause is enough on a line that may repeat every few seconds.
      reason = err.message.split('; ')[0] ?? err.message;
    }
    if (signal.aborted) break;
    const delay = Math.max(BACKOFF.floorMs, backoffDelay(attempt++, BACKOFF, io.random));
    io.stderr.write(
      `meshctl: event stream from ${server} lost (${reason}); reconnecting in ${(delay / 1000).toFixed(1)} s, resuming after seq ${lastSeq}\n`,
    );
    try {
      await sleep(delay, undefined, { signal });
    } catch {
      break;
    }
  }
}

/** The events of a list answer, checked. */
export function eventsOf(body: unknown, path: string): MeshEventView[] {
  const events = (body as { events?: unknown })?.events;
  if (!Array.isArray(events))
    throw new CliError(CliErrorCodes.BAD_ANSWER, `GET ${path}: the answer has no "events" list`);
  return events as MeshEventView[];
}
