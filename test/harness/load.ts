import { setTimeout as pause } from 'node:timers/promises';
import { httpRequest } from './http.js';

/** What a request loop saw. */
export interface LoadResult {
  sent: number;
  failed: number;
  byInstance: Map<string, number>;
  /** Failures with their time, status and body, for the report. */
  failures: Array<{ at: number; status: number; detail: string }>;
}

/**
 * A steady loop of requests through an outbound listener, `workers` at a
 * time, until `stop()` is called, `maxRequests` have been sent or
 * `maxMs` has passed: bounded in count and in time, it always ends by itself.
 * `pauseMs` paces each worker (a pause after each request): a test that
 * runs long, beside replicas whose etcd leases must be kept, sends a steady
 * trickle rather than all the machine can take. `perSecond` paces the
 * whole loop instead, as `hey -q` does: request number k starts no earlier
 * than k / perSecond seconds after the start, so the rate sent is known
 * (as long as the workers keep up).
 */
export function requestLoop(
  port: number,
  url: string,
  { workers = 2, maxRequests = 50_000, maxMs = 60_000, pauseMs = 0, perSecond = 0 } = {},
): {
  result: LoadResult;
  stop: () => Promise<LoadResult>;
  sentSince: (t: number) => Array<{ at: number; instance: string }>;
} {
  const result: LoadResult = { sent: 0, failed: 0, byInstance: new Map(), failures: [] };
  const log: Array<{ at: number; instance: string }> = [];
  const started = Date.now();
  const deadline = started + maxMs;
  let stopped = false;
  let slots = 0;
  const worker = async () => {
    while (!stopped && result.sent < maxRequests && Date.now() < deadline) {
      if (perSecond > 0) {
        // Each worker claims its slot before it waits, so that two never take the same one.
        const wait = started + (slots++ * 1000) / perSecond - Date.now();
        if (wait > 0) await pause(wait);
        if (stopped) break;
      }
      result.sent++;
      try {
        const a = await httpRequest(port, url, { timeoutMs: 5_000 });
        const instance = String(a.headers['x-instance'] ?? '');
        if (a.status !== 200) {
          result.failed++;
          result.failures.push({ at: Date.now(), status: a.status, detail: a.body.slice(0, 300) });
        } else {
          result.byInstance.set(instance, (result.byInstance.get(instance) ?? 0) + 1);
          log.push({ at: Date.now(), instance });
        }
      } catch (e) {
        result.failed++;
        result.failures.push({ at: Date.now(), status: 0, detail: (e as Error).message });
      }
      if (pauseMs > 0) await pause(pauseMs);
    }
  };
  const running = Promise.all(Array.from({ length: workers }, worker));
  return {
    result,
    stop: async () => {
      stopped = true;
      await running;
      return result;
    },
    sentSince: (t) => log.filter((l) => l.at >= t),
  };
}
