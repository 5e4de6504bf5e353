// One service: its instances grouped by tier and zone, its ring, the
// policy in force and its authorization policy.

import { badge, DASH, fmtMs, fmtRate, fmtRatio, h, healthTone, jsonBlock, stateBadge, timeEl } from './dom.js';

function groupBy(items, key) {
  const groups = new Map();
  for (const item of items) {
    const k = key(item);
    let g = groups.get(k);
    if (!g) {
      g = [];
      groups.set(k, g);
    }
    g.push(item);
  }
  return groups;
}

function instanceItem(i) {
  return h(
    'li',
    { class: 'instance', 'data-testid': `instance-${i.id}`, 'data-state': i.state },
    h(
      'div',
      { class: 'instance-head' },
      stateBadge(i.state),
      h('strong', {}, i.id),
      h('span', { class: 'muted' }, `${i.host}:${i.port}`),
    ),
    h('p', { class: 'reason' }, i.reason || DASH),
    h(
      'p',
      { class: 'muted small' },
      'since ',
      timeEl(i.since),
      i.heldUntil ? [' · held down until ', timeEl(i.heldUntil)] : null,
      ` · weight ${i.weight}`,
      i.callers?.length ? ` · ${i.callers.length} caller${i.callers.length === 1 ? '' : 's'} reporting` : null,
    ),
  );
}

function tierSection(tier, instances, activeTier) {
  const serving = activeTier === null || activeTier === undefined ? null : tier === activeTier;
  const zones = [...groupBy(instances, (i) => i.zone ?? '').entries()].sort(([a], [b]) => a.localeCompare(b));
  return h(
    'section',
    { class: 'tier', 'data-testid': `tier-${tier}`, 'aria-labelledby': `tier-${tier}-title` },
    h(
      'h3',
      { id: `tier-${tier}-title` },
      `Tier ${tier} `,
      serving === true ? badge('serving', 'ok') : serving === false ? badge('standby', 'muted') : null,
    ),
    ...zones.map(([zone, list]) =>
      h(
        'div',
        { class: 'zone' },
        h('h4', {}, zone === '' ? 'no zone' : `zone ${zone}`),
        h('ul', { class: 'instances' }, ...list.map(instanceItem)),
      ),
    ),
  );
}

function ringSection(ring) {
  if (!ring) return h('p', { class: 'muted' }, 'No ring: the service does not use a ring_hash or maglev balancer.');
  const agents = ring.agents;
  return h(
    'div',
    {},
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Version'),
      h('dd', {}, String(ring.version)),
      h('dt', {}, 'Checksum'),
      h('dd', {}, h('code', {}, ring.checksum ?? DASH)),
      h('dt', {}, 'Agents agreeing'),
      h('dd', { 'data-testid': 'ring-agreeing' }, agents ? String(agents.agreeing) : DASH),
      h('dt', {}, 'Agents disagreeing'),
      h('dd', {}, agents?.disagreeing?.length ? agents.disagreeing.map((a) => badge(a, 'bad')) : 'none'),
      h('dt', {}, 'On another version'),
      h('dd', {}, agents?.otherVersion?.length ? agents.otherVersion.join(', ') : 'none'),
    ),
    h('h3', {}, `Members (${ring.members.length})`),
    h('ul', { class: 'members' }, ...ring.members.map((m) => h('li', {}, h('code', {}, m.id), ` weight ${m.weight}`))),
  );
}

/** The authorization policy of a service, from GET /v1/authz/NAME; none: who the mTLS mode lets in. */
function authzSection(authz) {
  if (authz?.unavailable !== undefined)
    return h(
      'p',
      { class: 'muted', 'data-testid': 'authz', 'data-mode': 'unavailable' },
      `Could not be read: ${authz.unavailable}`,
    );
  if (!authz || authz.policy === null)
    return h(
      'p',
      { class: 'muted', 'data-testid': 'authz', 'data-mode': 'none' },
      'None: every caller the service’s mTLS mode lets in is allowed.',
    );
  const { mode, rules } = authz.policy;
  return h(
    'div',
    { 'data-testid': 'authz', 'data-mode': mode },
    h(
      'p',
      {},
      badge(mode, mode === 'audit' ? 'warn' : 'info'),
      ` ${rules.length} rule${rules.length === 1 ? '' : 's'}, from the ${authz.source === 'api' ? 'admin API' : 'config file'}`,
      mode === 'audit' ? ': logs and counts what it would deny, denies nothing' : '',
    ),
    authz.invalid
      ? h(
          'p',
          { 'data-testid': 'authz-invalid' },
          badge('invalid', 'warn'),
          ` the stored policy no longer validates, so every caller is denied until it is rewritten or deleted: ${authz.invalid}`,
        )
      : null,
    jsonBlock(rules, `authorization rules of ${authz.service}`),
  );
}

/**
 * Renders a service from GET /v1/services/NAME (`detail`), its entry of
 * GET /v1/rings (`ring`, with the agents that agree; may be undefined) and
 * GET /v1/authz/NAME (`authz`; may be undefined, or `{ unavailable: why }`
 * when that read failed: the rest of the page is still shown).
 */
export function renderService(detail, ring, authz) {
  const byTier = [...groupBy(detail.instances, (i) => i.tier).entries()].sort(([a], [b]) => a - b);
  const stats = detail.stats;
  return h(
    'div',
    { 'data-testid': `service-${detail.name}` },
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Services'), ' / ', detail.name),
    h(
      'h1',
      {},
      detail.name,
      ' ',
      badge(`${detail.healthy}/${detail.total} healthy`, healthTone(detail.healthy, detail.total)),
    ),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Serving tier'),
      h('dd', { 'data-testid': 'active-tier' }, detail.activeTier === null ? DASH : String(detail.activeTier)),
      detail.failbackAt ? [h('dt', {}, 'Failback at'), h('dd', {}, timeEl(detail.failbackAt))] : null,
      h('dt', {}, 'Table version'),
      h('dd', {}, detail.version === null ? DASH : String(detail.version)),
      h('dt', {}, 'Mutual TLS'),
      h(
        'dd',
        { 'data-testid': 'mtls-mode' },
        (detail.policy?.mtls?.mode ?? 'strict') === 'strict'
          ? badge('strict', 'ok', { title: 'Its agents accept mutual TLS only' })
          : badge('permissive', 'warn', { title: 'Its agents also accept plaintext callers, with no identity' }),
      ),
      h('dt', {}, 'Traffic'),
      h(
        'dd',
        {},
        stats ? `${fmtRate(stats.rps)}, ${fmtRatio(stats.errorRatio)} errors, p99 ${fmtMs(stats.p99Ms)}` : DASH,
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'instances-title' },
      h('h2', { id: 'instances-title' }, 'Instances'),
      byTier.length === 0
        ? h('p', { class: 'muted' }, 'No instance is registered.')
        : byTier.map(([tier, list]) => tierSection(tier, list, detail.activeTier)),
    ),
    h(
      'section',
      { 'aria-labelledby': 'ring-title' },
      h('h2', { id: 'ring-title' }, 'Ring'),
      ringSection(ring ?? detail.ring),
    ),
    h(
      'section',
      { 'aria-labelledby': 'policy-title' },
      h('h2', { id: 'policy-title' }, 'Policy in force'),
      jsonBlock(detail.policy, `policy of ${detail.name}`),
    ),
    h(
      'section',
      { 'aria-labelledby': 'authz-title' },
      h('h2', { id: 'authz-title' }, 'Authorization policy'),
      authzSection(authz),
    ),
  );
}
