import type { Logger } from '@meshlet/shared';
import type { DecisionSink, EventLog } from '../events/event-log.js';
import type { Replication } from '../ha/replication.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import type { WebhookSender } from '../webhooks/webhook-sender.js';

/** What acts on a decision once it is in the log. */
export interface DecisionOutlets {
  replication: Replication;
  webhooks: WebhookSender;
  metrics: ControlPlaneMetrics;
  log: Logger;
}

/**
 * Wires the log of decisions: returns the sink the engines record into, and
 * sends each decision this control plane made to the webhooks, the metrics,
 * the log and the other replicas.
 */
export function recordDecisions(events: EventLog, outlets: DecisionOutlets): DecisionSink {
  const { replication, webhooks, metrics, log } = outlets;
  events.subscribe((e, inserted) => {
    // A follower holds the leader's decisions too (inserted); the leader alone sends their webhooks and counts them.
    if (inserted) return;
    webhooks.send(e);
    replication.decided();
    if (e.kind === 'failover') metrics.failovers.inc({ service: e.service });
    else if (e.kind === 'health' || e.kind === 'drain') metrics.healthTransitions.inc({ to: e.to });
    log.info(
      { event: e.kind, service: e.service, instance: e.instance, from: e.from, to: e.to, reason: e.reason },
      'decision',
    );
  });
  // Only the leader's decisions are recorded; a follower's engines run as a hot standby and theirs are dropped.
  return { add: (e) => (replication.leading ? events.add(e) : undefined) };
}
