import type { MeshEvent } from '../events/event-log.js';

/** How an event is written in a webhook's body. */
export type WebhookFormat = 'json' | 'slack';

/**
 * The body POSTed for `event`: `{ "event": ... }` with the time as ISO 8601
 * (what `/v1/events` serves), or `{ "text": ... }` for a Slack incoming
 * webhook.
 */
export function webhookBody(event: MeshEvent, format: WebhookFormat): string {
  if (format === 'slack') return JSON.stringify({ text: slackText(event) });
  return JSON.stringify({ event: { ...event, time: new Date(event.time).toISOString() } });
}

/**
 * One readable line: what changed, where, from what to what, and why, such as
 * `meshlet health: orders/orders-1 healthy → unhealthy (2 of 2 callers see it failing)`.
 * `&`, `<` and `>` are escaped, as Slack asks, so that a reason cannot turn
 * into a link or a mention.
 */
export function slackText(event: MeshEvent): string {
  const where = event.instance === undefined ? event.service : `${event.service}/${event.instance}`;
  const why = event.reason === '' ? '' : ` (${event.reason})`;
  return escapeSlack(
    `meshlet ${event.kind}: ${where} ${event.from} → ${event.to}${why}`.replace(/\s*[\r\n]+\s*/g, ' '),
  );
}

function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
