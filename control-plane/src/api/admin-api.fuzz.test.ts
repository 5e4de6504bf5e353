import { apiAnswerProblem, bodyCases, httpCall, paramValues, queryStrings } from '@meshlet/test-harness/fuzz-http';
import { fuzzRuns, type Schema } from '@meshlet/test-harness/fuzz-values';
import { heapAfterGc } from '@meshlet/test-harness/raw-exchange';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FuzzControlPlane, startFuzzControlPlane } from './test-support/fuzz-control-plane.js';

// Generated requests thrown at every route of the control plane's admin API
// (issue 16, fuzzing), on a real control plane in process on loopback (file
// store in a temporary directory): bodies of any shape and type, wrong
// content types, odd path parameters and query strings. Every answer is a 2xx
// or a 4xx with `{error: {code: MESHLET_*, message}}`; never a 5xx; /healthz
// still answers; no unhandled rejection; the heap stays bounded. The routes
// come from the server's own OpenAPI document, so a new route is fuzzed too.
// `MESHLET_FUZZ_RUNS=100000 npx vitest run control-plane/src/api/admin-api.fuzz.test.ts`
// runs the campaign recorded in docs/reliability.md.

const RUNS = fuzzRuns(1000);
/** Growth of the heap (after a full GC) the run may cause: state the valid writes add, far below a leak's. */
const HEAP_GROWTH_BOUND = 64 * 1024 * 1024;
/** Query names the routes read by hand (the event filters) besides those their schemas declare. */
const HAND_READ_QUERY = ['service', 'instance', 'kind', 'after', 'limit', 'since', 'resourceVersion'];

interface Route {
  method: string;
  path: string;
  params: Record<string, Schema | undefined>;
  query: string[];
  body: Schema | undefined;
}

interface OpenApiOperation {
  parameters?: Array<{ in: string; name: string; schema?: Schema }>;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}

/** Every route of the OpenAPI document, with its parameters' and body's schemas. */
function routesOf(doc: { paths: Record<string, Record<string, OpenApiOperation>> }): Route[] {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      params: Object.fromEntries((op.parameters ?? []).filter((p) => p.in === 'path').map((p) => [p.name, p.schema])),
      query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
      body: Object.values(op.requestBody?.content ?? {})[0]?.schema,
    })),
  );
}

/** One generated request for `route`: its path parameters filled, a query half the time, a body for writes. */
function requestFor(route: Route) {
  const names = Object.keys(route.params);
  const write = !['GET', 'HEAD'].includes(route.method);
  return fc.record({
    route: fc.constant(route),
    params: fc.tuple(...names.map((n) => paramValues(route.params[n]))),
    query: fc.option(queryStrings([...route.query, ...HAND_READ_QUERY]), { freq: 2 }),
    body: write ? bodyCases(route.body) : fc.option(bodyCases(undefined), { freq: 5 }),
  });
}

describe('the control plane admin API under generated requests', () => {
  const rejections: unknown[] = [];
  const onRejection = (e: unknown) => rejections.push(e);
  let cp: FuzzControlPlane;
  let port: number;
  let routes: Route[];

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    cp = await startFuzzControlPlane();
    port = cp.port;
    const doc = await httpCall(port, { method: 'GET', path: '/docs/json' });
    routes = routesOf(JSON.parse(doc.text) as Parameters<typeof routesOf>[0]);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    await cp?.stop();
  });

  it(
    'every route answers any body, parameter and query with a 2xx or a clear 4xx, and stays up with a bounded heap',
    async () => {
      expect(routes.length).toBeGreaterThan(30);
      const healthz = async () => (await httpCall(port, { method: 'GET', path: '/healthz' })).status;
      let cases = 0;
      let heapBefore = 0;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...routes).chain(requestFor), async ({ route, params, query, body }) => {
          let i = 0;
          const path = route.path.replace(/\{[^}]+\}/g, () => params[i++] as string);
          const answer = await httpCall(port, {
            method: route.method,
            path: query === null ? path : `${path}?${query}`,
            headers: body?.headers ?? {},
            body: body?.body,
          });
          const problem = apiAnswerProblem(answer);
          if (problem) throw new Error(`${route.method} ${path}: ${problem}`);
          if (++cases % 50 === 0) expect(await healthz()).toBe(200);
          if (cases === 50) heapBefore = heapAfterGc();
        }),
        { numRuns: RUNS },
      );
      expect(await healthz()).toBe(200);
      expect(rejections).toEqual([]);
      expect(heapAfterGc() - heapBefore).toBeLessThan(HEAP_GROWTH_BOUND);
    },
    60_000 + RUNS * 20,
  );
});
