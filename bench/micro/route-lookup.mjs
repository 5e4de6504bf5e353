// Route lookup: what an outbound request does before its first pick. The
// request target read from the request (origin form with Host, or absolute
// form), then resolveDestination: the service looked up in a table of 1000
// services, its routes matched, the split drawn, its settings taken.
import { requestTarget } from '../../agent/dist/listener/request-target.js';
import { resolveDestination } from '../../agent/dist/route/destination.js';
import { RouteMatcher } from '../../agent/dist/route/route-matcher.js';
import { seededRandom } from '@meshlet/shared';
import { expect, request, routeTable } from './fixtures.mjs';

/** Four rules as a canary rollout writes them: header canary, a method rule, a weighted split, a catch-all. */
export const RULES = [
  {
    name: 'canary',
    match: { pathPrefix: '/api/', headers: [{ name: 'x-canary', exact: '1' }] },
    splits: [{ subset: { version: 'v2' }, weight: 1 }],
  },
  {
    name: 'writes',
    match: { pathPrefix: '/api/orders', methods: ['POST', 'PUT', 'DELETE'] },
    timeouts: { requestMs: 10_000 },
  },
  {
    name: 'v2-rollout',
    match: { pathPrefix: '/api/' },
    splits: [
      { subset: { version: 'v1' }, weight: 90 },
      { subset: { version: 'v2' }, weight: 10 },
    ],
    retries: { maxRetries: 1 },
  },
  { name: 'rest', match: { pathPrefix: '/' } },
];

export const group = 'route-lookup';

/** The cases; `close()` stops what they started. */
export function cases() {
  const plain = routeTable();
  const routed = routeTable({ rules: RULES });
  const get = request('GET', '/api/orders/42?expand=lines');
  const absolute = request('GET', 'http://orders/api/orders/42?expand=lines');
  const target = requestTarget(get);
  expect(target?.service === 'orders' && target.path === '/api/orders/42?expand=lines', 'requestTarget (origin form)');
  const svcTarget = { service: 'svc-500', path: target.path };
  const matcher = new RouteMatcher(RULES, seededRandom(1));
  const routeRequest = { method: get.method, path: target.path, headers: get.headers };
  const isDestination = (d) => d !== undefined && 'lb' in d && d.lb.size > 0;
  return {
    close: () => {
      plain.close();
      routed.close();
    },
    list: [
      {
        name: 'requestTarget, origin form (Host)',
        fn: () => requestTarget(get),
        check: (t) => t?.service === 'orders',
      },
      {
        name: 'requestTarget, absolute form (URL)',
        fn: () => requestTarget(absolute),
        check: (t) => t?.service === 'orders',
      },
      {
        name: 'resolveDestination, 1000 services, no routes',
        fn: () => resolveDestination(plain, get, svcTarget),
        check: isDestination,
      },
      {
        name: 'resolveDestination, 1000 services, 4 rules (3rd matches, 90/10 split)',
        fn: () => resolveDestination(routed, get, target),
        check: isDestination,
      },
      {
        name: 'RouteMatcher.match, 4 rules (3rd matches)',
        fn: () => matcher.match(routeRequest),
        check: (m) => m?.rule.name === 'v2-rollout',
      },
    ],
  };
}
