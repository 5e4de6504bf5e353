// Agents: connection, the table version each applied, NACKs and what each
// one subscribes to.

import { badge, DASH, h, stateBadge, timeEl } from './dom.js';

function nackCell(nack) {
  if (!nack) return 'none';
  return h('span', {}, badge(nack.code ?? 'NACK', 'bad'), ` v${nack.version}: ${nack.error} `, timeEl(nack.at));
}

function ringsCell(rings) {
  if (!rings.length) return DASH;
  const bad = rings.filter((r) => r.agrees === false).map((r) => r.service);
  return bad.length ? badge(`disagrees: ${bad.join(', ')}`, 'bad') : `${rings.length} agree`;
}

/** Renders GET /v1/agents. */
export function renderAgents(answer) {
  const rows = answer.agents.map((a) =>
    h(
      'tr',
      { 'data-testid': `agent-row-${a.agentId}`, 'data-connected': String(a.connected), 'data-in-sync': String(a.inSync) },
      h('th', { scope: 'row' }, a.agentId, h('div', { class: 'muted small' }, a.remoteAddress ?? '')),
      h('td', {}, a.instance ? [h('a', { href: `#/services/${encodeURIComponent(a.instance.service)}` }, a.instance.service), ` / ${a.instance.id} `, stateBadge(a.instance.state)] : h('span', { class: 'muted' }, 'caller only')),
      h('td', {}, a.connected ? badge('connected', 'ok') : [badge('disconnected', 'bad'), ' ', timeEl(a.disconnectedAt)]),
      h('td', { class: 'num' }, a.appliedVersion ?? DASH, h('span', { class: 'muted' }, ` / ${a.sentVersion ?? DASH}`)),
      h('td', {}, a.inSync ? badge('in sync', 'ok') : a.connected ? badge('behind', 'warn') : DASH),
      h('td', {}, nackCell(a.nack)),
      h('td', {}, a.subscriptions.length ? a.subscriptions.join(', ') : DASH),
      h('td', {}, ringsCell(a.rings)),
    ),
  );
  return h(
    'div',
    {},
    h('h1', {}, 'Agents'),
    h('p', { class: 'muted' }, `Routing table version ${answer.tableVersion}. An agent is sent only the services it calls, so agents sit at different versions and each can be in sync.`),
    h(
      'table',
      { class: 'grid', 'data-testid': 'agents-table' },
      h('caption', { class: 'visually-hidden' }, 'Every agent: connection, applied and sent table versions, NACKs, subscriptions and rings'),
      h('thead', {}, h('tr', {}, ...['Agent', 'Instance', 'Connection', 'Applied / sent', 'In sync', 'Last NACK', 'Subscriptions', 'Rings'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows),
    ),
    rows.length === 0 ? h('p', { class: 'empty' }, 'No agent has connected yet.') : null,
  );
}
