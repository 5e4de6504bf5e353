// What the micro-benchmarks share: endpoints, a routing table of many
// services, and requests shaped as Node hands them to the listeners.
import { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { seededRandom } from '@meshlet/shared';
import { EndpointStatsMap } from '../../agent/dist/balancer/endpoint-stats.js';
import { RouteTable } from '../../agent/dist/route/route-table.js';

/**
 * `n` endpoints `<prefix>-0` ... on 10.x addresses, labelled version v1 and
 * v2 in turn, of weight 1 (the default, and most tables); `mixed`: every
 * third of weight 2, so that the balancers that weigh take their weighted
 * path.
 */
export function endpoints(n, prefix = 'e', mixed = false) {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    host: `10.0.${i >> 8}.${i & 255}`,
    port: 15006,
    tier: 0,
    weight: mixed && i % 3 === 0 ? 2 : 1,
    labels: { version: i % 2 === 0 ? 'v1' : 'v2' },
  }));
}

/** Runtime deps as the agent gives them: seeded random, the monotonic clock, shared endpoint stats. */
export function runtimeDeps(over = {}) {
  return {
    random: seededRandom(20),
    clock: () => performance.now(),
    stats: new EndpointStatsMap(),
    zone: undefined,
    ...over,
  };
}

/**
 * A routing table of `services` services (`svc-0` ...) of 3 endpoints each,
 * with default policies, plus `orders` (`endpoints` endpoints) carrying
 * `rules` as its routes. Close it (`table.close()`) when done.
 */
export function routeTable({ services = 1000, rules = [], orderEndpoints = 3, deps = runtimeDeps() } = {}) {
  const all = {};
  for (let i = 0; i < services; i++) all[`svc-${i}`] = { endpoints: endpoints(3, `svc-${i}`) };
  all.orders = { endpoints: endpoints(orderEndpoints, 'orders'), policy: rules.length > 0 ? { routes: rules } : {} };
  return new RouteTable({ type: 'routes', version: 1, nonce: 'micro', services: all }, 'control-plane', 0, deps);
}

/** The request headers of a typical API call from an app behind the agent (as a browser-fronting web tier sends them). */
export const REQUEST_HEADERS = [
  ['Host', 'orders'],
  ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36'],
  ['Accept', 'application/json, text/plain, */*'],
  ['Accept-Encoding', 'gzip, deflate, br'],
  ['Accept-Language', 'en-GB,en;q=0.9'],
  ['Authorization', 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl'],
  ['Cookie', 'session=5f0c1e2d3b4a; theme=dark'],
  ['X-Forwarded-For', '203.0.113.7'],
  ['Content-Type', 'application/json'],
  ['Content-Length', '348'],
  ['Connection', 'keep-alive'],
];

/**
 * A request as Node's HTTP server hands it over (an `IncomingMessage`, no
 * socket): `rawHeaders` and the lower-case `headers` object both set.
 *
 * @param {string} method
 * @param {string} url
 * @param {[string, string][]} headers
 */
export function request(method, url, headers = REQUEST_HEADERS) {
  const req = new IncomingMessage(undefined);
  req.method = method;
  req.url = url;
  req.httpVersion = '1.1';
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  req.rawHeaders = headers.flat();
  const obj = {};
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    obj[lower] = obj[lower] === undefined ? value : `${obj[lower]}, ${value}`;
  }
  req.headers = obj;
  return req;
}

/** Fails the run when `ok` is false: a case returned what no working agent would. */
export function expect(ok, what) {
  if (!ok) throw new Error(`a micro-benchmark returned a wrong result: ${what}`);
}
