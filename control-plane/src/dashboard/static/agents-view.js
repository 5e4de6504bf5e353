// Agents: connection, the control-plane replica each is connected to (with
// several replicas), the workload identity each holds and when its
// certificate expires, the table version each applied, NACKs and what each
// one subscribes to.

import { badge, DASH, h, scrollBox, stateBadge, timeEl } from './dom.js';

function nackCell(nack) {
  if (!nack) return 'none';
  return h('span', {}, badge(nack.code ?? 'NACK', 'bad'), ` v${nack.version}: ${nack.error} `, timeEl(nack.at));
}

function ringsCell(rings) {
  if (!rings.length) return DASH;
  const bad = rings.filter((r) => r.agrees === false).map((r) => r.service);
  return bad.length ? badge(`disagrees: ${bad.join(', ')}`, 'bad') : `${rings.length} agree`;
}

/** The replica an agent is connected to: another one by name, this one, or none known. */
function replicaCell(a) {
  if (a.replica) return h('td', { 'data-replica': a.replica }, a.replica);
  return h('td', { class: 'muted', 'data-replica': '' }, a.connected ? 'this replica' : DASH);
}

/** Certificates this close to expiry are shown as a warning (renewal is due at about 70% of their life). */
const EXPIRY_WARN_MS = 60 * 60 * 1000;

/**
 * The workload identity last issued to the agent (its SPIFFE ID) and when
 * its certificate expires: a warning within the hour, an error once past
 * (a connected agent renews long before; a past expiry means it could not).
 */
function identityCell(a) {
  const c = a.certificate;
  if (!c) return h('td', { class: 'muted', 'data-identity': '' }, a.replica ? `on ${a.replica}` : 'none issued');
  const left = Date.parse(c.notAfter) - Date.now();
  const tone = left <= 0 ? 'bad' : left < EXPIRY_WARN_MS ? 'warn' : 'ok';
  return h(
    'td',
    { 'data-identity': c.spiffeId },
    h('code', { class: 'small' }, c.spiffeId),
    h('div', {}, badge(left <= 0 ? 'expired' : 'expires', tone), ' ', timeEl(c.notAfter)),
  );
}

/** Whether the agent applied the last table sent; an agent of another replica has its ACK state there only. */
function inSyncCell(a) {
  if (a.replica)
    return h(
      'td',
      { class: 'muted', title: `Its table versions are known on ${a.replica}, the replica it is connected to` },
      `on ${a.replica}`,
    );
  return h('td', {}, a.inSync ? badge('in sync', 'ok') : a.connected ? badge('behind', 'warn') : DASH);
}

/**
 * Renders GET /v1/agents; `cluster` is GET /v1/cluster's answer, if any. The
 * Replica column shows only among replicas: a standalone control plane has
 * every agent.
 */
export function renderAgents(answer, cluster) {
  const replicas = (cluster !== undefined && cluster.role !== 'standalone') || answer.agents.some((a) => a.replica);
  const rows = answer.agents.map((a) =>
    h(
      'tr',
      {
        'data-testid': `agent-row-${a.agentId}`,
        'data-connected': String(a.connected),
        'data-in-sync': String(a.inSync),
      },
      h('th', { scope: 'row' }, a.agentId, h('div', { class: 'muted small' }, a.remoteAddress ?? '')),
      h(
        'td',
        {},
        a.instance
          ? [
              h('a', { href: `#/services/${encodeURIComponent(a.instance.service)}` }, a.instance.service),
              ` / ${a.instance.id} `,
              stateBadge(a.instance.state),
            ]
          : h('span', { class: 'muted' }, 'caller only'),
      ),
      h(
        'td',
        {},
        a.connected ? badge('connected', 'ok') : [badge('disconnected', 'bad'), ' ', timeEl(a.disconnectedAt)],
      ),
      replicas ? replicaCell(a) : null,
      identityCell(a),
      h('td', { class: 'num' }, a.appliedVersion ?? DASH, h('span', { class: 'muted' }, ` / ${a.sentVersion ?? DASH}`)),
      inSyncCell(a),
      h('td', {}, nackCell(a.nack)),
      h('td', {}, a.subscriptions.length ? a.subscriptions.join(', ') : DASH),
      h('td', {}, ringsCell(a.rings)),
    ),
  );
  return h(
    'div',
    {},
    h('h1', {}, 'Agents'),
    h(
      'p',
      { class: 'muted' },
      `Routing table version ${answer.tableVersion}. An agent is sent only the services it calls, so agents sit at different versions and each can be in sync.`,
    ),
    scrollBox(
      h(
        'table',
        { class: 'grid', 'data-testid': 'agents-table' },
        h(
          'caption',
          { class: 'visually-hidden' },
          `Every agent: connection,${replicas ? ' control-plane replica,' : ''} workload identity and certificate expiry, applied and sent table versions, NACKs, subscriptions and rings`,
        ),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...[
              'Agent',
              'Instance',
              'Connection',
              replicas ? 'Replica' : null,
              'Identity',
              'Applied / sent',
              'In sync',
              'Last NACK',
              'Subscriptions',
              'Rings',
            ]
              .filter(Boolean)
              .map((c) => h('th', { scope: 'col' }, c)),
          ),
        ),
        h('tbody', {}, rows),
      ),
      'Agents',
    ),
    rows.length === 0 ? h('p', { class: 'empty' }, 'No agent has connected yet.') : null,
  );
}
