import { describe, expect, it } from 'vitest';
import type { Convergence } from './convergence-tracker.js';
import { ServiceTable } from './service-table.js';
import { TableFanout } from './table-fanout.js';
import { ep, sink } from './test-support/table-sinks.js';

describe('TableFanout', () => {
  const setup = () => {
    const fx = { now: 1_000, converged: [] as Convergence[] };
    const table = new ServiceTable(0);
    const fanout = new TableFanout({ table, clock: () => fx.now, onConverged: (c) => fx.converged.push(c) });
    const make = (services: Record<string, { endpoints: ReturnType<typeof ep>[] }>, nonce = 'n') => {
      const { texts } = table.diff(services);
      table.commit(services, texts, nonce);
    };
    return { fx, table, fanout, make };
  };

  it('sends each agent what it lacks, once per version, and records what was sent', () => {
    const { fx, fanout, make } = setup();
    make({ a: { endpoints: [ep('a-1')] }, b: { endpoints: [ep('b-1')] } });
    const x = sink('x');
    const y = sink('y');
    fanout.add(x, ['a']);
    fanout.add(y);
    fanout.sendAll(fx.now, false);
    expect(Object.keys(x.sent[0]?.services ?? {})).toEqual(['a']);
    expect(Object.keys(y.sent[0]?.services ?? {})).toEqual(['a', 'b']);
    expect(x.record.sent).toEqual({ version: 1, nonce: 'n', at: 1_000 });
    fanout.sendAll(fx.now, false);
    fanout.sendTo(x);
    expect(x.sent).toHaveLength(1);
    expect(y.sent).toHaveLength(1);
  });

  it('shares one serialisation between agents that get the same message', () => {
    const { fx, fanout, make } = setup();
    make({ a: { endpoints: [ep('a-1')] } });
    const sinks = [sink('s0'), sink('s1'), sink('s2')];
    for (const s of sinks) fanout.add(s, ['a']);
    fanout.sendAll(fx.now, false);
    expect(new Set(sinks.map((s) => s.texts[0])).size).toBe(1);
  });

  it('converges a tracked change when every agent it concerned has answered, and not before', () => {
    const { fx, fanout, make } = setup();
    make({ a: { endpoints: [ep('a-1')] }, b: { endpoints: [ep('b-1')] } });
    const x = sink('x');
    const y = sink('y');
    fanout.add(x, ['a']);
    fanout.add(y, ['b']);
    fanout.sendAll(fx.now, false);
    make({ a: { endpoints: [ep('a-1', 'unhealthy')] }, b: { endpoints: [ep('b-1')] } }, 'm');
    fanout.sendAll(900, true);
    expect(y.sent).toHaveLength(1);
    fanout.answer(y, 2, true);
    expect(fx.converged).toEqual([]);
    fx.now = 1_200;
    fanout.answer(x, 2, true);
    expect(fx.converged).toEqual([
      { version: 2, decidedAt: 900, convergedAt: 1_200, durationMs: 300, agents: 1, unanswered: 0 },
    ]);
  });

  it('counts an agent removed before answering as unanswered, and ignores answers of agents not connected', () => {
    const { fx, fanout, make } = setup();
    make({ a: { endpoints: [ep('a-1')] } });
    const x = sink('x');
    fanout.add(x, ['a']);
    fanout.sendAll(fx.now, false);
    make({ a: { endpoints: [] } }, 'm');
    fanout.sendAll(fx.now, true);
    fanout.remove(x);
    expect(fanout.held(x)).toBeUndefined();
    expect(fx.converged).toMatchObject([{ version: 2, agents: 1, unanswered: 1 }]);
    fanout.answer(x, 2, true);
    expect(fx.converged).toHaveLength(1);
  });

  it('sends full tables after forgetBases, and extends an agent at the version it holds', () => {
    const { fx, fanout, make } = setup();
    make({ a: { endpoints: [ep('a-1')] }, b: { endpoints: [ep('b-1')] } });
    const x = sink('x');
    fanout.add(x, ['a']);
    fanout.sendAll(fx.now, false);
    fanout.held(x)?.subscribe(['b']);
    fanout.sendTo(x, true);
    expect(x.sent[1]).toMatchObject({ version: 1, baseVersion: 1, services: { b: {} } });
    fanout.forgetBases();
    fanout.sendTo(x);
    expect(x.sent[2]?.baseVersion).toBeUndefined();
    expect(Object.keys(x.sent[2]?.services ?? {})).toEqual(['a', 'b']);
  });
});
