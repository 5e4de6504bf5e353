import { fuzzRuns } from '@meshlet/test-harness/fuzz-values';
import { heapAfterGc, rawExchange, rawHttpBytes } from '@meshlet/test-harness/raw-exchange';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FuzzControlPlane, startFuzzControlPlane } from './test-support/fuzz-control-plane.js';

// Raw bytes on a socket thrown at the control plane's listener (issue 16,
// fuzzing), a whole control plane in process: random bytes, and HTTP/1.1
// requests with odd request lines, conflicting Content-Length and
// Transfer-Encoding, huge headers, bad chunk sizes, CONNECT, odd Upgrade
// values (the agents' stream is a WebSocket upgrade) and pipelining, some
// mutated byte by byte. One connection per case, written and half-closed:
// a status line or a close before the deadline; then /healthz still
// answers; no unhandled rejection; heap bounded. `MESHLET_FUZZ_RUNS=100000
// npx vitest run control-plane/src/api/raw-bytes.fuzz.test.ts` runs the
// campaign recorded in docs/reliability.md.

const RUNS = fuzzRuns(300);
const DEADLINE_MS = 5000;
const HEAP_GROWTH_BOUND = 64 * 1024 * 1024;
const PATHS = ['/healthz', '/v1/stream', '/v1/services', '/v1/policies/orders', '/v1/instances/a/drain', '/docs/json'];
const VALID = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';

describe("the control plane's listener under raw bytes", () => {
  const rejections: unknown[] = [];
  const onRejection = (e: unknown) => rejections.push(e);
  let cp: FuzzControlPlane;

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    cp = await startFuzzControlPlane();
  });
  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    await cp?.stop();
  });

  it(
    'any bytes get a status line or a close before the deadline, and /healthz answers after',
    async () => {
      let cases = 0;
      let heapBefore = 0;
      await fc.assert(
        fc.asyncProperty(rawHttpBytes(PATHS), async (bytes) => {
          const outcome = await rawExchange(cp.port, bytes, DEADLINE_MS);
          if (outcome.kind === 'deadline') throw new Error('neither an answer nor a close before the deadline');
          if (outcome.kind === 'answer' && outcome.status < 100) throw new Error('an answer that is not HTTP/1.x');
          const after = await rawExchange(cp.port, VALID, DEADLINE_MS, { halfClose: false });
          if (after.kind !== 'answer' || after.status !== 200)
            throw new Error(`/healthz after it got ${JSON.stringify(after)}`);
          if (++cases === 50) heapBefore = heapAfterGc();
        }),
        { numRuns: RUNS },
      );
      expect(rejections).toEqual([]);
      expect(heapAfterGc() - heapBefore).toBeLessThan(HEAP_GROWTH_BOUND);
    },
    60_000 + RUNS * 50,
  );
});
