import { Agent, request } from 'node:http';
import { setTimeout as pause } from 'node:timers/promises';

/** One request of a {@link steadyLoad}: when it started, how long it took, and what came back. */
export interface Sample {
  at: number;
  ms: number;
  status: number;
  instance: string;
  detail?: string;
}

/** Options of {@link steadyLoad}. */
export interface SteadyLoadOptions {
  /** Requests per second over all workers (each worker paces itself). */
  rate: number;
  /** Concurrent workers; a slow answer holds one worker, the others go on. */
  workers?: number;
  /** Bounds: the loop ends by itself after this long, or this many requests. */
  maxMs: number;
  maxRequests?: number;
  /** Per-request deadline. */
  timeoutMs?: number;
}

/** A running load loop: every sample so far, and `stop()`. */
export interface SteadyLoad {
  samples: Sample[];
  stop(): Promise<Sample[]>;
}

/**
 * A steady rate of idempotent GETs, `http://<service>/` through a caller
 * agent's outbound listener at `host:port`, on keep-alive connections as an
 * app's HTTP client makes them. Every request is counted: a non-200 answer
 * or an error is a failure with its detail. Bounded in time and count.
 */
export function steadyLoad(host: string, port: number, service: string, o: SteadyLoadOptions): SteadyLoad {
  const workers = o.workers ?? 4;
  const gapMs = (1000 * workers) / o.rate;
  const deadline = Date.now() + o.maxMs;
  const maxRequests = o.maxRequests ?? Math.ceil((o.rate * o.maxMs) / 1000) + workers;
  const agent = new Agent({ keepAlive: true, maxSockets: workers });
  const samples: Sample[] = [];
  let stopped = false;
  let sent = 0;
  const worker = async (index: number) => {
    await pause((gapMs * index) / workers);
    while (!stopped && sent < maxRequests && Date.now() < deadline) {
      sent++;
      const start = Date.now();
      const sample = await get(agent, host, port, service, o.timeoutMs ?? 10_000);
      samples.push({ at: start, ms: Date.now() - start, ...sample });
      const wait = gapMs - (Date.now() - start);
      if (wait > 0 && !stopped) await pause(wait);
    }
  };
  const running = Promise.all(Array.from({ length: workers }, (_, i) => worker(i)));
  return {
    samples,
    async stop() {
      stopped = true;
      await running;
      agent.destroy();
      return samples;
    },
  };
}

function get(
  agent: Agent,
  host: string,
  port: number,
  service: string,
  timeoutMs: number,
): Promise<Omit<Sample, 'at' | 'ms'>> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: `http://${service}/`, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const instance = String(res.headers['x-instance'] ?? '');
        resolve(
          status === 200
            ? { status, instance }
            : { status, instance, detail: Buffer.concat(chunks).toString().slice(0, 300) },
        );
      });
      res.on('error', (e) => resolve({ status: 0, instance: '', detail: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve({ status: 0, instance: '', detail: e.message }));
    req.end();
  });
}

/** Failed samples (not a 200). */
export const failures = (samples: readonly Sample[]): Sample[] => samples.filter((s) => s.status !== 200);

/** The `q` quantile (0..1) of the latencies of `samples` in ms, by nearest rank (the p99 of 200 is the 198th). */
export function quantile(samples: readonly Sample[], q: number): number {
  if (samples.length === 0) return 0;
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
