import { describe, expect, it } from 'vitest';
import { type Convergence, ConvergenceTracker } from './convergence-tracker.js';
import { sink, usePusher } from './test-support/table-sinks.js';

describe('ConvergenceTracker', () => {
  const setup = () => {
    let now = 1_000;
    const done: Convergence[] = [];
    const tracker = new ConvergenceTracker<string>({ clock: () => now, onConverged: (c) => done.push(c) });
    return { tracker, done, at: (t: number) => (now = t) };
  };

  it('converges a change at the last answer of the agents it was sent to', () => {
    const { tracker, done, at } = setup();
    tracker.sent('a', 5);
    tracker.sent('b', 5);
    tracker.track(5, 900, 2);
    at(1_100);
    tracker.answer('a', 5, true);
    expect(done).toEqual([]);
    at(1_250);
    tracker.answer('b', 5, true);
    expect(done).toEqual([
      { version: 5, decidedAt: 900, convergedAt: 1_250, durationMs: 350, agents: 2, unanswered: 0 },
    ]);
  });

  it('counts a NACK and an agent that went away as unanswered', () => {
    const { tracker, done } = setup();
    for (const agent of ['a', 'b', 'c']) tracker.sent(agent, 3);
    tracker.track(3, 1_000, 3);
    tracker.answer('a', 3, false);
    tracker.forget('b');
    tracker.answer('c', 7, true);
    expect(done).toEqual([
      { version: 3, decidedAt: 1_000, convergedAt: 1_000, durationMs: 0, agents: 3, unanswered: 2 },
    ]);
  });

  it('answers every change up to the version answered, oldest first', () => {
    const { tracker, done } = setup();
    tracker.sent('a', 1);
    tracker.track(1, 1_000, 1);
    tracker.sent('a', 2);
    tracker.track(2, 1_000, 1);
    tracker.answer('a', 2, true);
    expect(done.map((c) => c.version)).toEqual([1, 2]);
  });

  it('tracks nothing for a change sent to no agent', () => {
    const { tracker, done, at } = setup();
    tracker.track(4, 0, 0);
    at(1_000_000);
    tracker.expire();
    expect(done).toEqual([]);
  });

  it('closes a change still unanswered after the deadline, and forgets it for its agents', () => {
    const { tracker, done, at } = setup();
    tracker.sent('a', 8);
    tracker.sent('b', 8);
    tracker.track(8, 1_000, 2);
    tracker.answer('a', 8, true);
    at(60_999);
    tracker.expire();
    expect(done).toEqual([]);
    at(61_000);
    tracker.expire();
    expect(done).toEqual([
      { version: 8, decidedAt: 1_000, convergedAt: 61_000, durationMs: 60_000, agents: 2, unanswered: 1 },
    ]);
    tracker.answer('b', 8, true);
    expect(done).toHaveLength(1);
  });
});

describe('Pusher: convergence', () => {
  const fx = usePusher();

  it('measures convergence from the decision to the last affected ACK', () => {
    const x = sink('x');
    const y = sink('y');
    const z = sink('z');
    fx.p.add(x, 0, ['a']);
    fx.p.add(y, 0, ['a']);
    fx.p.add(z, 0, ['c']);
    fx.now = 2000;
    fx.p.schedule();
    fx.services.a = { endpoints: [] };
    fx.now = 2020;
    fx.p.flush();
    fx.now = 2050;
    fx.p.ack(x, 2);
    expect(fx.converged).toEqual([]);
    fx.now = 2090;
    fx.p.ack(y, 2);
    expect(fx.converged).toEqual([
      { version: 2, decidedAt: 2000, convergedAt: 2090, durationMs: 90, agents: 2, unanswered: 0 },
    ]);
  });

  it('closes a change that an agent never answers after the deadline', () => {
    const x = sink('x');
    fx.p.add(x, 0, ['a']);
    fx.services.a = { endpoints: [] };
    fx.p.flush();
    fx.now += 60_000;
    fx.p.expirePending();
    expect(fx.converged).toMatchObject([{ version: 2, agents: 1, unanswered: 1 }]);
  });
});
