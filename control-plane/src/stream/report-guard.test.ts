import { PassThrough } from 'node:stream';
import { createLogger, type Observations } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../metrics.js';
import type { TableSink } from '../push/table-sink.js';
import { agentRecord } from '../registry/test-support/agent-record.js';
import { ReportGuard } from './report-guard.js';

const sink = (agentId: string, over: Parameters<typeof agentRecord>[1] = {}): TableSink => ({
  record: agentRecord(agentId, over),
  send: () => undefined,
});

const report = (...ids: string[]): Observations => ({
  type: 'observations',
  windowMs: 1000,
  endpoints: ids.map((id) => ({ service: 'hello', id, ok: 0, failed: 100 })),
});

function setup(rate = { perSecond: 2, burst: 3 }) {
  const clock = { now: 1_000 };
  const lines: Record<string, unknown>[] = [];
  const out = new PassThrough();
  out.on('data', (b: Buffer) => {
    for (const l of b.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  const metrics = createMetrics();
  const sent = new Set(['hello/hello-1']);
  const tabled = new Set(['evil', 'flood', 'calm', 'evil-a', 'evil-b', 'web-1', 'web-2', 'cli-1', 'cli-2']);
  const guard = new ReportGuard({
    rate,
    wasSent: (_s, service, id) => sent.has(`${service}/${id}`),
    tableSent: (s) => tabled.has(s.record.agentId),
    metrics,
    log: createLogger('test', 'debug', out),
    clock: () => clock.now,
  });
  const refused = async (type: string, reason: string) =>
    (await metrics.reportsRefused.get()).values.find((v) => v.labels.type === type && v.labels.reason === reason)
      ?.value ?? 0;
  return { clock, lines, metrics, guard, refused };
}

describe('ReportGuard', () => {
  it('drops observations of endpoints never sent to the agent, counted and logged', async () => {
    const { guard, refused, lines } = setup();
    const s = sink('evil');
    expect(guard.observations(s, report('hello-1', 'hello-9'), 'evil')).toEqual(report('hello-1'));
    expect(guard.observations(s, report('hello-9'), 'evil')).toBeUndefined();
    expect(await refused('observations', 'not_sent')).toBe(2);
    await new Promise((r) => setImmediate(r));
    expect(lines).toContainEqual(
      expect.objectContaining({ agentId: 'evil', msg: 'refused observations of endpoints never sent to this agent' }),
    );
  });

  it('drops, without a warning, the reports of an agent sent no table yet (a control plane just started)', async () => {
    const { guard, refused, lines } = setup();
    expect(guard.observations(sink('early'), report('hello-1', 'hello-9'), 'early')).toBeUndefined();
    expect(await refused('observations', 'no_table_yet')).toBe(2);
    await new Promise((r) => setImmediate(r));
    expect(lines).toEqual([]);
  });

  it('limits reports per agent: a flood is dropped and counted, another agent is not affected', async () => {
    const { guard, refused, clock, lines } = setup();
    const flood = sink('flood');
    const results = Array.from({ length: 10 }, () => guard.observations(flood, report('hello-1'), 'flood'));
    expect(results.filter(Boolean)).toHaveLength(3);
    expect(await refused('observations', 'rate_limited')).toBe(7);
    expect(guard.observations(sink('calm'), report('hello-1'), 'calm')).toBeDefined();
    clock.now += 500; // one token back at 2 per second
    expect(guard.observations(flood, report('hello-1'), 'flood')).toBeDefined();
    expect(guard.observations(flood, report('hello-1'), 'flood')).toBeUndefined();
    await new Promise((r) => setImmediate(r));
    // Logged once for the whole flood (at most once per 10 s), not once per report.
    expect(lines.filter((l) => l.agentId === 'flood')).toHaveLength(1);
  });

  it('holds the newest health report over the limit and applies it at a later heartbeat', async () => {
    const { guard, refused, clock } = setup({ perSecond: 1, burst: 1 });
    const s = sink('flappy');
    expect(guard.health(s, { type: 'health', status: 'unhealthy' })).toEqual({ type: 'health', status: 'unhealthy' });
    expect(guard.health(s, { type: 'health', status: 'healthy' })).toBeUndefined();
    expect(guard.health(s, { type: 'health', status: 'unhealthy', reason: 'last' })).toBeUndefined();
    expect(await refused('health', 'rate_limited')).toBe(2);
    expect(guard.heldHealth(s)).toBeUndefined(); // no token yet
    clock.now += 1000;
    expect(guard.heldHealth(s)).toEqual({ type: 'health', status: 'unhealthy', reason: 'last' });
    expect(guard.heldHealth(s)).toBeUndefined();
  });

  it('one process as two callers (two agents on one credential, one address) is counted and warned about', async () => {
    const { guard, metrics, lines } = setup({ perSecond: 100, burst: 100 });
    guard.observations(sink('evil-a'), report('hello-1'), 'credential/c1');
    expect((await metrics.callersMerged.get()).values[0]?.value ?? 0).toBe(0);
    guard.observations(sink('evil-b'), report('hello-1'), 'credential/c1');
    guard.observations(sink('evil-a'), report('hello-1'), 'credential/c1');
    expect((await metrics.callersMerged.get()).values).toEqual([
      expect.objectContaining({ labels: { reason: 'same_address' }, value: 2 }),
    ]);
    await new Promise((r) => setImmediate(r));
    expect(lines.filter((l) => l.identity === 'credential/c1')).toEqual([
      expect.objectContaining({ level: 40, agents: ['evil-a', 'evil-b'], reason: 'same_address' }),
    ]);
  });

  it('client-only agents sharing one credential are counted as no_instance', async () => {
    const { guard, metrics } = setup({ perSecond: 100, burst: 100 });
    guard.observations(
      sink('cli-1', { instance: undefined, remoteAddress: '10.0.0.1' }),
      report('hello-1'),
      'credential/c',
    );
    guard.observations(
      sink('cli-2', { instance: undefined, remoteAddress: '10.0.0.2' }),
      report('hello-1'),
      'credential/c',
    );
    expect((await metrics.callersMerged.get()).values).toEqual([
      expect.objectContaining({ labels: { reason: 'no_instance' }, value: 1 }),
    ]);
  });

  it("replicas sharing their service's credential (normal traffic) are neither counted nor warned about", async () => {
    const { guard, metrics, lines } = setup({ perSecond: 100, burst: 100 });
    for (let i = 0; i < 3; i++) {
      guard.observations(sink('web-1', { remoteAddress: '10.0.0.1' }), report('hello-1'), 'credential/web');
      guard.observations(sink('web-2', { remoteAddress: '10.0.0.2' }), report('hello-1'), 'credential/web');
    }
    expect((await metrics.callersMerged.get()).values.reduce((n, v) => n + v.value, 0)).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(lines.filter((l) => (l.level as number) >= 40)).toEqual([]);
    expect(lines.filter((l) => l.identity === 'credential/web')).toEqual([expect.objectContaining({ level: 20 })]);
  });

  it('notes a merge only for reports that passed the filters (no_table_yet, not_sent)', async () => {
    const { guard, metrics } = setup({ perSecond: 100, burst: 100 });
    guard.observations(sink('early-a'), report('hello-1'), 'credential/c1'); // no table yet
    guard.observations(sink('evil-a'), report('hello-9'), 'credential/c1'); // never sent
    guard.observations(sink('evil-b'), report('hello-1'), 'credential/c1');
    expect((await metrics.callersMerged.get()).values.reduce((n, v) => n + v.value, 0)).toBe(0);
  });

  it('reconnecting does not refill the bucket: it is kept per agent id, not per stream', async () => {
    const { guard, refused } = setup({ perSecond: 1, burst: 2 });
    expect(guard.observations(sink('flood'), report('hello-1'), 'flood')).toBeDefined();
    expect(guard.observations(sink('flood'), report('hello-1'), 'flood')).toBeDefined();
    // A new stream (a new sink) of the same agent: still empty.
    expect(guard.observations(sink('flood'), report('hello-1'), 'flood')).toBeUndefined();
    expect(await refused('observations', 'rate_limited')).toBe(1);
  });
});
