import { fuzzRuns } from '@meshlet/test-harness/fuzz-values';
import { heapAfterGc, rawExchange, rawHttpBytes } from '@meshlet/test-harness/raw-exchange';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FuzzAgent, startFuzzAgent } from './test-support/fuzz-agent.js';

// Raw bytes on a socket thrown at the agent's three listeners (issue 16,
// fuzzing), on a whole agent in process: random bytes, and HTTP/1.1 requests
// with odd request lines, conflicting Content-Length and Transfer-Encoding,
// huge headers, bad chunk sizes, CONNECT, odd Upgrade values and pipelining,
// some mutated byte by byte. One connection per case, written and
// half-closed: the listener answers with a status line or closes, before the
// deadline; then it still answers a valid request; no unhandled rejection;
// heap bounded. `MESHLET_FUZZ_RUNS=100000 npx vitest run
// agent/src/listener/raw-bytes.fuzz.test.ts` runs the campaign recorded in
// docs/reliability.md.

const RUNS = fuzzRuns(300);
const DEADLINE_MS = 5000;
const HEAP_GROWTH_BOUND = 64 * 1024 * 1024;

describe("the agent's listeners under raw bytes", () => {
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

  const listeners = [
    {
      name: 'outbound',
      port: () => agent.addresses.outbound,
      paths: ['/', '/orders', 'http://orders/x'],
      host: 'orders',
    },
    { name: 'inbound', port: () => agent.addresses.inbound, paths: ['/', '/healthz', '/x'], host: '127.0.0.1' },
    { name: 'admin', port: () => agent.addresses.admin, paths: ['/ready', '/config', '/log-level'], host: '127.0.0.1' },
  ];

  for (const { name, port, paths, host } of listeners) {
    it(
      `${name}: any bytes get a status line or a close before the deadline, and a valid request is answered after`,
      async () => {
        const valid = `GET ${paths[1]} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
        let cases = 0;
        let heapBefore = 0;
        await fc.assert(
          fc.asyncProperty(rawHttpBytes(paths), async (bytes) => {
            const outcome = await rawExchange(port(), bytes, DEADLINE_MS);
            if (outcome.kind === 'deadline') throw new Error('neither an answer nor a close before the deadline');
            if (outcome.kind === 'answer' && outcome.status < 100) throw new Error('an answer that is not HTTP/1.x');
            const after = await rawExchange(port(), valid, DEADLINE_MS, { halfClose: false });
            if (after.kind !== 'answer' || after.status < 100)
              throw new Error(`a valid request after it got ${JSON.stringify(after)}`);
            if (++cases === 50) heapBefore = heapAfterGc();
          }),
          { numRuns: RUNS },
        );
        expect(rejections).toEqual([]);
        expect(heapAfterGc() - heapBefore).toBeLessThan(HEAP_GROWTH_BOUND);
      },
      60_000 + RUNS * 50,
    );
  }
});
