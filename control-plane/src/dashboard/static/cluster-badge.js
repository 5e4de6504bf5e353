// The header's badge for this replica's place among the control-plane
// replicas (GET /v1/cluster): standalone, leader, or follower of a named
// leader whose own dashboard it links to.

import { badge, h } from './dom.js';

/** The leader's dashboard (its advertised URL, path `/`); undefined unless it is an http(s) URL. */
function dashboardUrl(url) {
  try {
    const u = new URL('/', url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}

/** Renders GET /v1/cluster as a badge; its title says in one sentence what the role means. */
export function renderClusterBadge(c) {
  const attrs = { 'data-testid': 'cluster-role', 'data-role': c.role, 'data-leader': c.leader?.replicaId };
  if (c.role === 'standalone') {
    return badge('standalone', 'muted', {
      ...attrs,
      title: 'This control plane runs alone (file store) and makes every health and failover decision itself.',
    });
  }
  if (c.role === 'leader') {
    return badge(`${c.replicaId} · leader`, 'info', {
      ...attrs,
      title: `This replica, ${c.replicaId}, leads: it makes the health and failover decisions, and every replica serves the same tables.`,
    });
  }
  if (c.role === 'follower' && !c.leader) {
    return badge(`${c.replicaId} · follower · no leader`, 'warn', {
      ...attrs,
      title:
        'This replica follows but no replica leads right now (is the etcd quorum lost?), so no health or failover decision is made until one is elected; agents keep the tables they hold.',
    });
  }
  if (c.role === 'follower') {
    const href = dashboardUrl(c.leader.url);
    return badge(
      [`${c.replicaId} · follower · leader `, href ? h('a', { href }, c.leader.replicaId) : c.leader.replicaId],
      'muted',
      {
        ...attrs,
        title: `This replica follows ${c.leader.replicaId}, which makes the health and failover decisions; tables are the same on every replica.`,
      },
    );
  }
  return badge(`${c.replicaId} · ${c.role}`, 'muted', attrs);
}
