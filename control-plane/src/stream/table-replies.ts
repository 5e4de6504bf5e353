import { type Ack, type Nack, type Observations, SharedErrorCodes } from '@meshlet/shared';
import type { TableSink } from '../push/pusher.js';
import type { AgentRecord } from '../registry/agent-record.js';
import type { SessionContext } from './agent-session.js';

/**
 * An agent's report of what it observed calling others (`identity`: what it
 * counts as among callers): checked against what it was sent and its rate,
 * then to the health engine, the stats, the other replicas and the caller log.
 */
export function onObservations(
  ctx: SessionContext,
  sink: TableSink,
  record: AgentRecord,
  msg: Observations,
  identity: string,
): void {
  const report = ctx.reports ? ctx.reports.observations(sink, msg, identity) : msg;
  if (!report) return;
  ctx.health.observe(record.agentId, report, identity);
  ctx.stats.record(report, (service, id) => ctx.health.knows(service, id), record.agentId);
  ctx.relay?.(record.agentId, report, identity);
  ctx.observed?.(record, report);
}

/**
 * An agent's ACK of a table: counts only for the table last sent to it (its
 * nonce and version); records what it now holds (trust, ring checksums) and
 * tells the pusher.
 */
export function onAck(ctx: SessionContext, sink: TableSink, record: AgentRecord, msg: Ack): void {
  if (!record.sent || msg.nonce !== record.sent.nonce || msg.version !== record.sent.version) return;
  record.acked = { version: msg.version, at: ctx.clock() };
  if (msg.certificateIssuer !== undefined && msg.certificateIssuer !== record.certificateIssuer) {
    record.certificateIssuer = msg.certificateIssuer;
    ctx.identityChanged?.(record);
  }
  ctx.pusher.ack(sink, msg.version);
  const reported = Object.entries(msg.ringChecksums ?? {});
  record.rings = Object.fromEntries(reported.map(([s, r]) => [s, { ...r, agrees: ctx.ringAgrees(s, r) }]));
}

/** An agent's refusal of a table: recorded, counted, and a full table follows when it lacked a delta's base. */
export function onNack(ctx: SessionContext, sink: TableSink, record: AgentRecord, msg: Nack): void {
  ctx.metrics.nacks.inc();
  record.nacked = { version: msg.version, error: msg.error, code: msg.code, at: ctx.clock() };
  ctx.pusher.nack(sink, msg.version, msg.code);
  if (msg.code === SharedErrorCodes.DELTA_BASE_MISMATCH) {
    ctx.log.info(
      { agentId: record.agentId, version: msg.version },
      'agent lacked the base of a delta; sending it a full table',
    );
  } else {
    ctx.log.warn({ agentId: record.agentId, version: msg.version, error: msg.error }, 'agent refused a routing table');
  }
}
