// Waiting on a condition while a benchmark's processes run, and a bounded autocannon run: shared by the scripts that
// start agents (proxy-compare, agent-memory, growth), which each had a copy.
import { request } from 'node:http';
import autocannon from 'autocannon';

/**
 * Polls `check` every `pollMs` until it returns true or `timeoutMs` passes, failing at once if a process of `group`
 * died (`group.assertAlive()`); the last answer or error is in the timeout message.
 */
export async function untilAlive(group, what, check, { timeoutMs = 30_000, pollMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    group.assertAlive();
    try {
      const r = await check();
      if (r === true) return;
      last = JSON.stringify(r);
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
}

/**
 * autocannon for `seconds` (or `amount` requests), stopped by a watchdog 30 s past its time if it overruns. With
 * `amount`, a short sample interval lets autocannon stop soon after the last answer (it checks once a sample).
 */
export async function boundedCannon({ url, headers = {}, connections, seconds, amount, tls }) {
  const inst = autocannon({
    url,
    headers,
    connections,
    ...(tls ? { tlsOptions: tls } : {}),
    ...(amount ? { amount, sampleInt: 50 } : { duration: seconds }),
  });
  const watchdog = setTimeout(() => inst.stop(), ((seconds ?? 1) + 30) * 1000);
  try {
    return await inst;
  } finally {
    clearTimeout(watchdog);
  }
}

/** One GET with its own connection and a 2 s timeout (fetch cannot set Host): `{ status, bytes }`. */
export function getOnce(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode, bytes }));
      res.on('error', reject);
    });
    req.setTimeout(2000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}
