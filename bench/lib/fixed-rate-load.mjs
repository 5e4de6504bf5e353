// An open-loop load at a fixed request rate, with sub-millisecond latencies.
//
// autocannon keeps its latencies in an integer-millisecond histogram, too
// coarse to tell whether a proxy adds 0.3 ms or 0.9 ms. This sends GETs on a
// schedule (request i is due at i / rate seconds after the start; a timer
// checks every millisecond and sends what is due, so a late timer sends a
// small burst rather than dropping requests) over keep-alive connections, and
// times each one with process.hrtime.bigint() from the moment it is written
// to the last byte of its body. The count (rate x seconds) and the time (the
// run plus a timeout) are both bounded: it always stops by itself.
import { Agent, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/**
 * Sends `rate` GET requests per second to `url` for `seconds` seconds.
 * Resolves to `{ sent, ok, errors, elapsedS, latenciesMs }`, the latencies of
 * the successful (2xx) requests sorted ascending. Pass a keep-alive `agent`
 * to reuse its connections across runs (it is then left open); without one,
 * a fresh agent is made and destroyed. An `https:` url needs an `agent`
 * (a node:https Agent with the client's TLS options).
 */
export function fixedRateLoad({ url, headers = {}, rate, seconds, timeoutMs = 5000, agent: shared }) {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  if (target.protocol === 'https:' && !shared) throw new Error(`fixedRateLoad: ${url} needs an https agent`);
  const total = Math.max(1, Math.round(rate * seconds));
  const periodNs = 1e9 / rate;
  const agent = shared ?? new Agent({ keepAlive: true, maxSockets: 64 });
  const latencies = new Float64Array(total);
  let ok = 0;
  let errors = 0;
  let sent = 0;
  let settled = 0;

  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    let pumpTimer;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(pumpTimer);
      clearTimeout(hardStop);
      if (!shared) agent.destroy();
      const elapsedS = Number(process.hrtime.bigint() - t0) / 1e9;
      // Requests never sent or never answered by the hard stop count as errors.
      resolve({ sent, ok, errors: errors + (total - settled), elapsedS, latenciesMs: latencies.slice(0, ok).sort() });
    };
    const hardStop = setTimeout(finish, seconds * 1000 + timeoutMs + 1000);

    const fire = () => {
      let done = false;
      const settle = (success, ms) => {
        if (done) return;
        done = true;
        settled++;
        if (success) latencies[ok++] = ms;
        else errors++;
        if (settled === total) finish();
      };
      const start = process.hrtime.bigint();
      const req = request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname + target.search,
          method: 'GET',
          headers,
        },
        (res) => {
          res.on('data', () => undefined);
          res.on('end', () =>
            settle(res.statusCode >= 200 && res.statusCode < 300, Number(process.hrtime.bigint() - start) / 1e6),
          );
          res.on('error', () => settle(false));
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error('timed out')));
      req.on('error', () => settle(false));
      req.end();
    };
    const pump = () => {
      const due = Math.min(total, Math.floor(Number(process.hrtime.bigint() - t0) / periodNs) + 1);
      while (sent < due) {
        sent++;
        fire();
      }
      if (sent < total && !finished) pumpTimer = setTimeout(pump, 1);
    };
    pump();
  });
}

/** The nearest-rank percentile `p` (0–100) of an ascending array, or NaN if it is empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}
