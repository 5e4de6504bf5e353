// The failover benchmark's figures: per path, the time from the kill to the
// first acknowledged write (median, p90, max over the runs), the ratio of
// the median to its database's baseline's (PostgreSQL paths: tuned Patroni
// + HAProxy; Redis paths: tuned Sentinel), acknowledged
// writes lost, stale writes (acknowledged by the deposed primary after the
// new term began / committed in its WAL after the promotion), and the
// writer's errors.

/** The `q`-quantile of `values` by nearest rank (q = 0.5: the median). */
export function quantile(values, q) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const sum = (xs) => xs.reduce((a, b) => a + (b ?? 0), 0);
const s = (ms) => (ms / 1000).toFixed(2);

/** One path's summary from its runs. */
export function summarize(runs) {
  const times = runs.map((r) => r.recoveryMs);
  return {
    runs: runs.length,
    failedOver: runs.filter((r) => r.failedOver).length,
    median: quantile(times, 0.5),
    p90: quantile(times, 0.9),
    max: Math.max(...times),
    lost: sum(runs.map((r) => r.lost)),
    runsWithLoss: runs.filter((r) => r.lost > 0).length,
    staleAcked: sum(runs.map((r) => r.staleAcked)),
    staleWal: runs.some((r) => r.staleWal !== undefined) ? sum(runs.map((r) => r.staleWal)) : undefined,
    inFlight: runs.some((r) => r.inFlight !== undefined) ? sum(runs.map((r) => r.inFlight)) : undefined,
    acked: sum(runs.map((r) => r.acked)),
    queryErrors: sum(runs.map((r) => r.queryErrors)),
    queryErrorsOnNewConnections: sum(runs.map((r) => r.queryErrorsOnNewConnections)),
    connectErrors: sum(runs.map((r) => r.connectErrors)),
  };
}

/**
 * The report as a Markdown table; `results` maps path name to
 * { label, db?, baseline?, runs }. Each path's median is compared with the
 * baseline of its own database (`db`; the baseline is the path of that
 * database marked `baseline`), and the cell names that baseline.
 */
export function table(results) {
  const baseOf = {};
  for (const [name, r] of Object.entries(results))
    if (r.baseline && r.runs.length > 0) baseOf[r.db ?? ''] = { name, median: summarize(r.runs).median };
  const lines = [
    '| path | runs | failed over | kill → first write, median | p90 | max | median vs the tuned anchor of its database | acked writes | lost (runs) | stale: acked / in WAL | unacked in-flight in WAL | write errors (on connections opened after the kill) | connect errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [name, r] of Object.entries(results)) {
    if (r.runs.length === 0) continue;
    const x = summarize(r.runs);
    const base = baseOf[r.db ?? ''];
    const ratio = base ? `${(x.median / base.median).toFixed(2)}× ${base.name}` : '–';
    lines.push(
      `| ${name} (${r.label}) | ${x.runs} | ${x.failedOver} | ${s(x.median)} s | ${s(x.p90)} s | ${s(x.max)} s | ${ratio} | ${x.acked} | ${x.lost} (${x.runsWithLoss}) | ${x.staleAcked} / ${x.staleWal ?? '–'} | ${x.inFlight ?? '–'} | ${x.queryErrors} (${x.queryErrorsOnNewConnections}) | ${x.connectErrors} |`,
    );
  }
  return lines.join('\n');
}
