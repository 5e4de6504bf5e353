// What bench/scale.mjs reads from a running control plane without changing
// it: resident memory from /proc, heap through the V8 inspector (the process
// is started with --inspect=127.0.0.1:0, loopback only), and histograms from
// its Prometheus /metrics.
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

/** VmRSS of `pid` in KiB, from /proc/PID/status. */
export function vmRssKiB(pid) {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

/** The inspector's WebSocket URL from what node printed at start ("Debugger listening on ws://..."), or undefined. */
export function inspectorUrlIn(output) {
  return /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(output)?.[1];
}

/**
 * `process.memoryUsage()` of the inspected process after a full garbage
 * collection (HeapProfiler.collectGarbage), in bytes: { rss, heapTotal,
 * heapUsed, external, arrayBuffers }. Bounded by `timeoutMs`.
 */
export function memoryAfterGc(inspectorUrl, timeoutMs = 20_000) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(inspectorUrl, { perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`the inspector at ${inspectorUrl} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (err, value) => {
      clearTimeout(timer);
      ws.close();
      if (err) reject(err);
      else resolve(value);
    };
    ws.on('error', (err) => finish(err));
    ws.on('open', () => {
      ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
      ws.send(
        JSON.stringify({
          id: 2,
          method: 'Runtime.evaluate',
          params: { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true },
        }),
      );
    });
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString('utf8'));
      if (m.error) finish(new Error(`inspector: ${m.error.message}`));
      else if (m.id === 2) {
        const r = m.result?.result;
        if (r?.type !== 'string') finish(new Error(`inspector: unexpected answer ${JSON.stringify(m.result)}`));
        else finish(undefined, JSON.parse(r.value));
      }
    });
  });
}

/** GET `url` as text, bounded by `timeoutMs`. */
export async function fetchText(url, timeoutMs = 10_000) {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (r.status !== 200) throw new Error(`${url} answered ${r.status}`);
  return r.text();
}

/** The value of `name` in Prometheus text (the sum over its label sets), or undefined if absent. */
export function metricValue(text, name) {
  let sum;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name) sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

/** `meshlet_cp_table_messages_total` by its `kind` label ({ full, delta }), or null if absent. */
export function tableMessagesByKind(text) {
  const out = {};
  for (const m of text.matchAll(/^meshlet_cp_table_messages_total\{[^}]*kind="([^"]*)"[^}]*\}\s+(\S+)/gm))
    out[m[1]] = Number(m[2]);
  return Object.keys(out).length ? out : null;
}

/**
 * Every label set of histogram `name` in Prometheus text:
 * [{ labels, buckets: [{ le, count }] (cumulative), sum, count }]; empty if absent.
 */
export function histograms(text, name) {
  const series = new Map();
  const get = (labels) => {
    if (!series.has(labels)) series.set(labels, { labels, buckets: [], sum: Number.NaN, count: Number.NaN });
    return series.get(labels);
  };
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || !m[1].startsWith(name)) continue;
    const suffix = m[1].slice(name.length);
    const pairs = (m[2] ?? '').split(',').filter(Boolean);
    const le = pairs.find((p) => p.startsWith('le='));
    const labels = pairs.filter((p) => !p.startsWith('le=')).join(',');
    const value = Number(m[3]);
    if (suffix === '_bucket' && le)
      get(labels).buckets.push({ le: Number(le.slice(4, -1).replace('+Inf', 'Infinity')), count: value });
    else if (suffix === '_sum') get(labels).sum = value;
    else if (suffix === '_count') get(labels).count = value;
  }
  for (const h of series.values()) h.buckets.sort((a, b) => a.le - b.le);
  return [...series.values()];
}

/** `h` minus an earlier scrape `before` of the same series (the observations made in between); `h` if there is no `before`. */
export function histogramMinus(h, before) {
  if (!before) return h;
  const at = new Map(before.buckets.map((b) => [b.le, b.count]));
  return {
    labels: h.labels,
    buckets: h.buckets.map((b) => ({ le: b.le, count: b.count - (at.get(b.le) ?? 0) })),
    sum: h.sum - before.sum,
    count: h.count - before.count,
  };
}

/** The upper bound of the bucket holding quantile `q` (0–1) of a histogram from {@link histograms}: an upper estimate. */
export function bucketQuantile(h, q) {
  if (!(h.count > 0)) return Number.NaN;
  const rank = q * h.count;
  for (const b of h.buckets) if (b.count >= rank) return b.le;
  return Infinity;
}
