// Authorization decision: decideInbound on an inbound request (the target
// normalized, the caller read from its SPIFFE id, the policy evaluated, the
// decision counted on the agent's metrics), for a service with no policy,
// one whose allow rule matches, and one whose deny rule matches (its log
// line thinned to one per 10 s, as the agent's is).
import { decideInbound } from '../../agent/dist/authz/authorize-inbound.js';
import { createAgentMetrics } from '../../agent/dist/metrics.js';
import { request } from './fixtures.mjs';

/** A policy as a team writes one: a deny rule, then two allow rules. */
export const POLICY = {
  mode: 'enforce',
  rules: [
    { name: 'no-admin', action: 'deny', paths: ['/admin/'] },
    { name: 'web-reads', action: 'allow', from: ['web', 'mobile-bff'], methods: ['GET', 'HEAD'], paths: ['/api/'] },
    { name: 'billing-writes', action: 'allow', from: ['billing'], methods: ['POST'], paths: ['/api/orders/'] },
  ],
};

const silent = { warn: () => undefined, info: () => undefined, debug: () => undefined, error: () => undefined };

export const group = 'authz';

export function cases() {
  const metrics = createAgentMetrics({ controlPlaneConnected: () => true, tableVersion: () => 1 });
  const context = (policy) => ({
    service: 'orders',
    policy: () => policy,
    trustDomain: () => 'meshlet.local',
    metrics,
    log: silent,
  });
  const none = context(undefined);
  const enforced = context(POLICY);
  const caller = 'spiffe://meshlet.local/svc/web';
  const get = request('GET', '/api/orders/42?expand=lines');
  const admin = request('GET', '/admin/users');
  return {
    close: () => undefined,
    list: [
      { name: 'no policy', fn: () => decideInbound(none, caller, get), check: (d) => d.error === undefined },
      {
        name: '3 rules, allowed (2nd rule)',
        fn: () => decideInbound(enforced, caller, get),
        check: (d) => d.error === undefined,
      },
      {
        name: '3 rules, denied (1st rule)',
        fn: () => decideInbound(enforced, caller, admin),
        check: (d) => d.decision?.kind === 'deny',
      },
    ],
  };
}
