import { LOG_LEVELS } from '@meshlet/shared';
import { apiAnswerProblem, bodyCases, httpCall, paramValues, queryStrings } from '@meshlet/test-harness/fuzz-http';
import { fuzzRuns, type Schema } from '@meshlet/test-harness/fuzz-values';
import { heapAfterGc } from '@meshlet/test-harness/raw-exchange';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FuzzAgent, startFuzzAgent } from '../listener/test-support/fuzz-agent.js';

// Generated requests thrown at the agent's admin listener (issue 16,
// fuzzing), on a whole agent in process: bodies of any shape for
// `PUT /log-level` (its only body), wrong content types, query strings on
// every route, odd methods and paths. Every answer is a 2xx, a 503 from
// `/ready` (not ready is an answer), or a 4xx with `{error: {code:
// MESHLET_*, message}}`; never another 5xx; the listener still answers; no
// unhandled rejection; the heap stays bounded.
// `MESHLET_FUZZ_RUNS=100000 npx vitest run agent/src/admin/admin-api.fuzz.test.ts`
// runs the campaign recorded in docs/reliability.md.

const RUNS = fuzzRuns(1000);
const HEAP_GROWTH_BOUND = 64 * 1024 * 1024;

/** `PUT /log-level`'s body, as a schema, so that its field name and levels are generated. */
const LOG_LEVEL_BODY: Schema = {
  type: 'object',
  properties: { level: { type: 'string', enum: [...LOG_LEVELS] } },
  additionalProperties: false,
};

const routes = [
  { method: 'GET', path: '/ready' },
  { method: 'GET', path: '/config' },
  { method: 'GET', path: '/metrics' },
  { method: 'GET', path: '/identity' },
  { method: 'GET', path: '/log-level' },
  { method: 'PUT', path: '/log-level', body: LOG_LEVEL_BODY },
  // The shard routes (their event stream never ends by design, so it is not among them).
  { method: 'GET', path: '/v1/shards/orders' },
  { method: 'POST', path: '/v1/shards/orders/lookup' },
];

/** A request: a real route, or a real path with another method, or a path of odd characters. */
const requests = fc.record({
  target: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...routes) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('POST', 'DELETE', 'PATCH', 'OPTIONS', 'PUT'), fc.constantFrom(...routes))
        .map(([method, r]) => ({ method, path: r.path })),
    },
    { weight: 1, arbitrary: paramValues(undefined).map((p) => ({ method: 'GET', path: `/${p}` })) },
  ),
  query: fc.option(queryStrings(['level', 'format', 'name', 'key', 'keys']), { freq: 2 }),
  body: fc.option(bodyCases(LOG_LEVEL_BODY), { freq: 3 }),
});

describe("the agent's admin listener under generated requests", () => {
  const rejections: unknown[] = [];
  const onRejection = (e: unknown) => rejections.push(e);
  let agent: FuzzAgent;

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    agent = await startFuzzAgent();
  });
  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    await agent?.stop();
  });

  it(
    'every route answers any body, method, path and query with a 2xx or a clear 4xx, and stays up with a bounded heap',
    async () => {
      const port = agent.addresses.admin;
      const up = async () => (await httpCall(port, { method: 'GET', path: '/config' })).status;
      let cases = 0;
      let heapBefore = 0;
      await fc.assert(
        fc.asyncProperty(requests, async ({ target, query, body }) => {
          const path = query === null ? target.path : `${target.path}?${query}`;
          const answer = await httpCall(port, {
            method: target.method,
            path,
            headers: body?.headers ?? {},
            body: body?.body,
          });
          const notReady = target.path === '/ready' && answer.status === 503;
          const problem = notReady ? undefined : apiAnswerProblem(answer);
          if (problem) throw new Error(`${target.method} ${path.slice(0, 200)}: ${problem}`);
          if (++cases % 50 === 0) expect(await up()).toBe(200);
          if (cases === 50) heapBefore = heapAfterGc();
        }),
        { numRuns: RUNS },
      );
      expect(await up()).toBe(200);
      expect(rejections).toEqual([]);
      expect(heapAfterGc() - heapBefore).toBeLessThan(HEAP_GROWTH_BOUND);
    },
    60_000 + RUNS * 20,
  );
});
