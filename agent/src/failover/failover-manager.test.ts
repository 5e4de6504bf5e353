import {
  type CommandConfig,
  createLogger,
  FAILOVER_ELECTION,
  type FailoverState,
  type ManagedFailoverPolicy,
} from '@meshlet/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { CoordStandIn } from '../coordination/test-support/coord-stand-in.js';
import type { ProbeResult } from '../health/health-check.js';
import { HealthMonitor } from '../health/health-monitor.js';
import type { LocalHealth, LocalHealthState } from '../health/local-health.js';
import { until } from '../listener/test-support/loopback.js';
import { FailoverManager } from './failover-manager.js';
import type { CommandOutcome } from './run-command.js';

// The agent's managed failover against the in-process control-plane stand-in, with a fake check and
// fake commands (a promote makes the fake check say primary); the table is what each test publishes.

const POLICY: ManagedFailoverPolicy = {
  mode: 'managed',
  maxLagBytes: 1000,
  leaseMs: 1000,
  candidateStaggerMs: 150,
  switchoverTimeoutMs: 5000,
};
const cmd = (name: string): CommandConfig => ({ command: [name], timeoutMs: 1000 });

class FakeHealth implements LocalHealth {
  state: LocalHealthState = { status: 'healthy', detail: 'ok', role: 'replica', replicationOffset: 10 };
  readonly #listeners = new Set<(s: LocalHealthState) => void>();
  current = () => this.state;
  onChange(l: (s: LocalHealthState) => void) {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }
  probes = 0;
  probeNow = async () => {
    this.probes++;
    return this.state;
  };
  set(s: Partial<LocalHealthState>) {
    this.state = { ...this.state, ...s };
    for (const l of this.#listeners) l(this.state);
  }
}

let standIn: CoordStandIn;
const managers: FailoverManager[] = [];
afterEach(() => {
  for (const m of managers) m.stop();
  managers.length = 0;
  standIn.close();
});

function mesh() {
  standIn = new CoordStandIn();
  standIn.disconnectGraceMs = 300;
  const table: { state: FailoverState } = { state: { term: 0, candidates: [] } };
  const ran: { who: string; what: string; env: Record<string, string> }[] = [];
  /** Every command's start and end, in order (all agents). */
  const steps: string[] = [];
  /** The stop signal each command was given. */
  const signals: AbortSignal[] = [];
  const members = new Map<string, { m: FailoverManager; health: FakeHealth; promoteOk: boolean }>();
  const add = (agentId: string, real?: LocalHealth, noDemote = false) => {
    const coordination = standIn.attach(agentId);
    const health = new FakeHealth();
    const member = {
      m: undefined as unknown as FailoverManager,
      health,
      promoteOk: true,
      /** The demote only blocks writes: the check still says primary after it. */
      demoteKeepsPrimary: false,
      /** While set, a promote waits for it (a slow promote). */
      promoteGate: undefined as Promise<void> | undefined,
      /** While set, a demote waits for it (a slow demote). */
      demoteGate: undefined as Promise<void> | undefined,
      client: coordination.client,
    };
    member.m = new FailoverManager({
      service: 'pg',
      instance: `${agentId}-i`,
      config: {
        priority: 1,
        promote: cmd('promote'),
        ...(noDemote ? {} : { demote: cmd('demote') }),
        rejoin: cmd('rejoin'),
      },
      client: coordination.client,
      health: real ?? health,
      table: () => ({ policy: POLICY, state: table.state }),
      run: async (what, _c, env, signal): Promise<CommandOutcome> => {
        ran.push({ who: `${agentId}-i`, what, env });
        if (signal) signals.push(signal);
        steps.push(`start ${what}`);
        if (what === 'promote' && member.promoteGate) await member.promoteGate;
        if (what === 'demote' && member.demoteGate) await member.demoteGate;
        steps.push(`end ${what}`);
        if (what === 'promote' && member.promoteOk) health.set({ role: 'primary' });
        if ((what === 'demote' && !member.demoteKeepsPrimary) || what === 'rejoin') health.set({ role: 'replica' });
        return what === 'promote' && !member.promoteOk
          ? { ok: false, detail: 'exit 1' }
          : { ok: true, detail: 'exit 0' };
      },
      clock: Date.now,
      log: createLogger('test', 'silent'),
    });
    managers.push(member.m);
    members.set(`${agentId}-i`, member);
    member.m.start();
    return member;
  };
  const election = () => standIn.entries.get(`election/${FAILOVER_ELECTION}`)?.state;
  /** Publishes a table as the control plane would: the term and holder from the election, the given candidates. */
  const publish = (candidates: string[], extra: Partial<FailoverState> = {}) => {
    const e = election();
    const holder = e?.holder?.instanceId;
    const primary = holder && members.get(holder)?.health.state.role === 'primary' ? holder : undefined;
    table.state = {
      term: e?.token ?? table.state.term,
      candidates,
      ...(holder ? { holder } : {}),
      ...(primary ? { primary } : {}),
      ...extra,
    };
    for (const { m } of members.values()) m.onTable();
  };
  return { add, publish, election, ran, table, steps, signals };
}

describe('FailoverManager', () => {
  it('the first candidate campaigns at once, wins, promotes with its env, and admits primary callers of its term only', async () => {
    const t = mesh();
    const a = t.add('a');
    const b = t.add('b');
    const fenced: string[] = [];
    b.m.onFence(() => fenced.push('b'));
    t.publish(['b-i', 'a-i']);
    await until(() => b.m.status.phase === 'primary', 'b primary');
    const term = b.m.status.term as number;
    expect(t.election()?.holder?.instanceId).toBe('b-i');
    expect(t.ran).toEqual([
      {
        who: 'b-i',
        what: 'promote',
        env: { MESHLET_SERVICE: 'pg', MESHLET_INSTANCE: 'b-i', MESHLET_TERM: String(term), MESHLET_PRIMARY: 'b-i' },
      },
    ]);
    expect(b.m.admit({ service: 'pg', role: 'primary', term })).toEqual({ ok: true });
    expect(b.m.admit({ service: 'pg', role: 'primary', term: term - 1 })).toMatchObject({
      ok: false,
      code: 'MESHLET_PRIMARY_FENCED',
    });
    expect(a.m.admit({ service: 'pg', role: 'primary', term })).toMatchObject({ ok: false });
    expect(a.m.admit({ service: 'pg', role: 'replica' })).toEqual({ ok: true });
    expect(a.m.status.phase).toBe('standby');
    expect(fenced).toEqual([]);
  });

  it('an instance that is not a candidate never campaigns', async () => {
    const t = mesh();
    const a = t.add('a');
    t.add('b');
    t.publish(['b-i']);
    await until(() => t.election()?.holder !== undefined, 'someone holds it');
    t.publish([]);
    expect(t.election()?.holder?.instanceId).toBe('b-i');
    expect(standIn.received.filter((r) => r.agentId === 'a' && r.op === 'acquire')).toEqual([]);
    expect(a.m.status.phase).toBe('standby');
  });

  it('a failed promote resigns the term; the next candidate takes over', async () => {
    const t = mesh();
    const a = t.add('a');
    const b = t.add('b');
    b.promoteOk = false;
    t.publish(['b-i', 'a-i']);
    await until(() => a.m.status.phase === 'primary', 'a took over');
    expect(b.m.status.phase).toBe('standby');
    expect(t.ran.map((r) => `${r.who} ${r.what}`)).toEqual(['b-i promote', 'a-i promote']);
  });

  it("the primary's check failing: it fences, demotes and resigns; the standby takes over with a newer term", async () => {
    const t = mesh();
    const a = t.add('a');
    const b = t.add('b');
    let fences = 0;
    b.m.onFence(() => fences++);
    t.publish(['b-i', 'a-i']);
    await until(() => b.m.status.phase === 'primary', 'b primary');
    const first = b.m.status.term as number;
    t.publish(['a-i']);
    b.health.set({ status: 'unhealthy' });
    await until(() => t.election()?.holder?.instanceId === 'a-i', 'a holds');
    expect(fences).toBeGreaterThan(0);
    expect(t.ran.filter((r) => r.who === 'b-i').map((r) => r.what)).toEqual(['promote', 'demote']);
    await until(() => a.m.status.phase === 'primary', 'a primary');
    expect(a.m.status.term).toBeGreaterThan(first);
  });

  it('a lost lease (the stream gone past the grace): fenced at the doubt, demoted at the loss; the old primary rejoins the newer term', async () => {
    const t = mesh();
    const a = t.add('a');
    const b = t.add('b');
    const seen: string[] = [];
    b.m.onFence(() => seen.push(b.m.status.inDoubt ? 'doubt' : 'fenced'));
    t.publish(['b-i', 'a-i']);
    await until(() => b.m.status.phase === 'primary', 'b primary');
    const first = b.m.status.term as number;
    standIn.drop('b');
    expect(seen).toEqual(['doubt']);
    expect(b.m.admit({ service: 'pg', role: 'primary', term: first })).toMatchObject({ ok: false });
    await until(() => t.ran.some((r) => r.who === 'b-i' && r.what === 'demote'), 'b demoted');
    standIn.free('election', FAILOVER_ELECTION, 'disconnected');
    t.publish(['a-i']);
    await until(() => a.m.status.phase === 'primary', 'a primary');
    standIn.connect('b');
    b.health.set({ role: 'primary' }); // its database came back as a primary
    t.publish([]);
    await until(() => t.ran.some((r) => r.who === 'b-i' && r.what === 'rejoin'), 'b rejoined');
    const rejoin = t.ran.find((r) => r.what === 'rejoin');
    expect(rejoin?.env).toMatchObject({ MESHLET_PRIMARY: 'a-i', MESHLET_TERM: String(a.m.status.term) });
    expect(b.m.status.phase).toBe('standby');
  });

  it('a stream blip shorter than the grace: fenced while in doubt, admitting again once a renewal is answered; no demote', async () => {
    const t = mesh();
    t.add('a');
    const b = t.add('b');
    t.publish(['b-i', 'a-i']);
    await until(() => b.m.status.phase === 'primary', 'b primary');
    const term = b.m.status.term as number;
    standIn.drop('b');
    expect(b.m.admit({ service: 'pg', role: 'primary', term })).toMatchObject({ ok: false });
    standIn.connect('b');
    await until(() => !b.m.status.inDoubt, 'renewed');
    expect(b.m.admit({ service: 'pg', role: 'primary', term })).toEqual({ ok: true });
    expect(b.m.status).toMatchObject({ phase: 'primary', term });
    expect(t.ran.filter((r) => r.what === 'demote')).toEqual([]);
  });

  it('a switchover: the primary fences once the target is a candidate, hands over once it caught up; only the target campaigns', async () => {
    const t = mesh();
    const a = t.add('a');
    const b = t.add('b');
    const c = t.add('c');
    let fences = 0;
    b.m.onFence(() => fences++);
    t.publish(['b-i', 'a-i', 'c-i']);
    await until(() => b.m.status.phase === 'primary', 'b primary');
    const term = b.m.status.term as number;
    t.publish(['c-i'], { switchoverTo: 'a-i' }); // a not a candidate yet: keep serving
    expect(fences).toBe(0);
    expect(b.m.admit({ service: 'pg', role: 'primary', term })).toEqual({ ok: true });
    t.publish(['a-i', 'c-i'], { switchoverTo: 'a-i' });
    expect(fences).toBe(1);
    expect(b.m.admit({ service: 'pg', role: 'primary', term })).toMatchObject({ ok: false });
    t.publish(['a-i', 'c-i'], { switchoverTo: 'a-i', switchoverCaughtUp: true, switchoverTargetOffset: 10 });
    await until(() => t.election()?.holder?.instanceId === 'a-i', 'a holds');
    await until(() => a.m.status.phase === 'primary', 'a primary');
    expect(standIn.received.filter((r) => r.agentId === 'c' && r.op === 'acquire')).toEqual([]);
    expect(c.m.status.phase).toBe('standby');
    t.publish(['b-i', 'c-i']);
    await until(() => t.ran.some((r) => r.who === 'b-i' && r.what === 'rejoin'), 'b rejoined');
  });

  it('a switchover hands over only once the target reached the offset the primary probed after fencing (a stale caught-up is not enough)', async () => {
    const t = mesh();
    const a = t.add('a');
    const b = t.add('b');
    t.publish(['b-i', 'a-i']);
    await until(() => b.m.status.phase === 'primary', 'b primary');
    b.health.state = { ...b.health.state, replicationOffset: 500 }; // acknowledged writes since its last report (10)
    const probes = b.health.probes;
    t.publish(['a-i'], { switchoverTo: 'a-i', switchoverCaughtUp: true, switchoverTargetOffset: 10 });
    await until(() => b.health.probes > probes, 'b probed its offset after the fence');
    await new Promise((r) => setImmediate(r));
    t.publish(['a-i'], { switchoverTo: 'a-i', switchoverCaughtUp: true, switchoverTargetOffset: 10 });
    await new Promise((r) => setImmediate(r));
    expect(t.ran.filter((r) => r.what === 'demote')).toEqual([]);
    expect(t.election()?.holder?.instanceId).toBe('b-i');
    t.publish(['a-i'], { switchoverTo: 'a-i', switchoverTargetOffset: 500 });
    await until(() => a.m.status.phase === 'primary', 'a primary');
    expect(t.ran.filter((r) => r.who === 'b-i').map((r) => r.what)).toEqual(['promote', 'demote']);
  });

  it('attack: a role-less connection opened to a fenced or in-doubt primary after the fence is refused (writes past the fenced offset)', async () => {
    const t = mesh();
    const a = t.add('a');
    const b = t.add('b');
    t.publish(['b-i', 'a-i']);
    await until(() => b.m.status.phase === 'primary', 'b primary');
    expect(b.m.admit({ service: 'pg' })).toEqual({ ok: true });
    expect(a.m.admit({ service: 'pg' })).toEqual({ ok: true }); // a replica serves role-less reads
    t.publish(['a-i'], { switchoverTo: 'a-i' });
    expect(b.m.admit({ service: 'pg' })).toMatchObject({ ok: false, code: 'MESHLET_PRIMARY_FENCED' });
    expect(a.m.admit({ service: 'pg' })).toEqual({ ok: true });
  });

  it('attack: a primary whose check turned unhealthy (role cleared) admits role-less connections during its slow demote: refused', async () => {
    const t = mesh();
    const a = t.add('a');
    const b = t.add('b');
    t.publish(['b-i', 'a-i']);
    await until(() => b.m.status.phase === 'primary', 'b primary');
    let release = () => {};
    b.demoteGate = new Promise<void>((r) => (release = r));
    // Probes time out under load past unhealthyThreshold: the monitor clears the role; PostgreSQL is still a primary.
    b.health.set({ status: 'unhealthy', role: undefined, detail: 'timeout' });
    await until(() => t.steps.includes('start demote'), 'b demoting');
    expect(b.m.admit({ service: 'pg' })).toMatchObject({ ok: false, code: 'MESHLET_PRIMARY_FENCED' });
    expect(a.m.admit({ service: 'pg' })).toEqual({ ok: true }); // a healthy replica serves role-less reads
    // From an agent's start until its first probe (status unknown, no role) it does not admit them either.
    a.health.set({ status: 'unknown', role: undefined });
    expect(a.m.admit({ service: 'pg' })).toMatchObject({ ok: false, code: 'MESHLET_PRIMARY_FENCED' });
    release();
  });

  it('attack: a busy primary whose post-fence probe fails hands over at its pre-fence offset (the check keeps the last one): no demote until a passing probe', async () => {
    const t = mesh();
    t.add('a');
    const results: ProbeResult[] = [{ ok: true, detail: 'up', role: 'primary', replicationOffset: 100 }];
    let probes = 0;
    const check = {
      probe: async (): Promise<ProbeResult> => {
        probes++;
        return results.length > 1 ? (results.shift() as ProbeResult) : (results[0] as ProbeResult);
      },
    };
    const monitor = new HealthMonitor({
      check,
      intervalMs: 60_000,
      healthyThreshold: 1,
      unhealthyThreshold: 3,
      log: createLogger('test', 'silent'),
    });
    await monitor.probeNow();
    const b = t.add('b', monitor);
    t.publish(['b-i', 'a-i']);
    await until(() => b.m.status.phase === 'primary', 'b primary');
    results.splice(0, results.length, { ok: false, detail: 'timed out' }); // busy: every probe times out now
    const before = probes;
    t.publish(['a-i'], { switchoverTo: 'a-i', switchoverTargetOffset: 100 });
    await until(() => probes > before, 'b probed after the fence');
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    t.publish(['a-i'], { switchoverTo: 'a-i', switchoverTargetOffset: 100 });
    await new Promise((r) => setImmediate(r));
    expect(t.ran.filter((r) => r.what === 'demote')).toEqual([]);
    expect(t.election()?.holder?.instanceId).toBe('b-i');
    results.splice(0, results.length, { ok: true, detail: 'up', role: 'primary', replicationOffset: 700 });
    t.publish(['a-i'], { switchoverTo: 'a-i', switchoverTargetOffset: 700 });
    await until(() => t.ran.some((r) => r.who === 'b-i' && r.what === 'demote'), 'b handed over at 700');
    monitor.stop();
  });

  it('attack: an app flooding the coordination API gets a renewal refused (limit): the primary keeps its term, no demote, no resign', async () => {
    const t = mesh();
    t.add('a');
    const b = t.add('b');
    t.publish(['b-i', 'a-i']);
    await until(() => b.m.status.phase === 'primary', 'b primary');
    const term = b.m.status.term as number;
    const request = b.client.request.bind(b.client);
    let refused = 0;
    let renewedAfter = 0;
    b.client.request = async (req) => {
      if (req.op === 'renew' && refused === 0) {
        refused++;
        const sentAt = Date.now();
        const result = { type: 'coordResult' as const, id: 0, ok: false, code: 'MESHLET_COORDINATION_REFUSED' };
        return { result: { ...result, refusal: 'limit' as const, message: 'rate limited' }, sentAt };
      }
      if (req.op === 'renew' && refused > 0) renewedAfter++;
      return request(req);
    };
    await until(() => renewedAfter > 0 && !b.m.status.inDoubt, 'renewed after the refusal');
    expect(b.m.status).toMatchObject({ phase: 'primary', term });
    expect(b.m.admit({ service: 'pg', role: 'primary', term })).toEqual({ ok: true });
    expect(t.ran.filter((r) => r.what === 'demote')).toEqual([]);
    expect(standIn.received.filter((r) => r.agentId === 'b' && r.op === 'release')).toEqual([]);
    expect(t.election()?.holder?.instanceId).toBe('b-i');
  });

  it('a demote that only blocks writes (the check still says primary): elected again, it runs promote before it is the primary', async () => {
    const t = mesh();
    const b = t.add('b');
    b.demoteKeepsPrimary = true;
    t.publish(['b-i']);
    await until(() => b.m.status.phase === 'primary', 'b primary');
    standIn.drop('b');
    await until(() => t.ran.some((r) => r.who === 'b-i' && r.what === 'demote'), 'b demoted');
    await until(() => b.m.status.phase === 'standby', 'b standby');
    standIn.free('election', FAILOVER_ELECTION, 'disconnected');
    standIn.connect('b');
    expect(b.health.state.role).toBe('primary');
    t.publish(['b-i']);
    await until(() => b.m.status.phase === 'primary', 'b primary again');
    expect(t.ran.filter((r) => r.who === 'b-i').map((r) => r.what)).toEqual(['promote', 'demote', 'promote']);
  });

  it("the primary's database restarted as a healthy replica: it fences and resigns (no demote); the standby takes over", async () => {
    const t = mesh();
    const a = t.add('a');
    const b = t.add('b');
    let fences = 0;
    b.m.onFence(() => fences++);
    t.publish(['b-i', 'a-i']);
    await until(() => b.m.status.phase === 'primary', 'b primary');
    t.publish(['a-i']);
    b.health.set({ role: 'replica' });
    await until(() => t.election()?.holder?.instanceId === 'a-i', 'a holds');
    await until(() => a.m.status.phase === 'primary', 'a primary');
    expect(fences).toBeGreaterThan(0);
    expect(b.m.status.phase).toBe('standby');
    expect(t.ran.filter((r) => r.who === 'b-i' && r.what === 'demote')).toEqual([]);
  });

  it('the term lost during a slow promote: the demote starts only after the promote ended (one command at a time)', async () => {
    const t = mesh();
    const b = t.add('b');
    let open = (): void => undefined;
    b.promoteGate = new Promise<void>((r) => (open = r));
    t.publish(['b-i']);
    await until(() => t.steps.includes('start promote'), 'promote started');
    standIn.drop('b');
    await until(() => b.m.status.term === undefined, 'the term is lost');
    await new Promise((r) => setImmediate(r));
    expect(t.steps).toEqual(['start promote']);
    open();
    await until(() => t.steps.includes('end demote'), 'demoted');
    expect(t.steps).toEqual(['start promote', 'end promote', 'start demote', 'end demote']);
  });

  it('attack: the term lost during a slow demote (step-down): the instance, its check turned healthy replica and first candidate, campaigns again before its demote ended', async () => {
    const t = mesh();
    const b = t.add('b');
    let open = (): void => undefined;
    b.demoteGate = new Promise<void>((r) => (open = r));
    t.publish(['b-i']);
    await until(() => b.m.status.phase === 'primary', 'b primary');
    const acquires = () => standIn.received.filter((r) => r.agentId === 'b' && r.op === 'acquire').length;
    const before = acquires();
    b.health.set({ status: 'unhealthy' });
    await until(() => t.steps.includes('start demote'), 'demote started');
    b.health.set({ status: 'healthy', role: 'replica' });
    standIn.free('election', FAILOVER_ELECTION, 'expired');
    await until(() => b.m.status.term === undefined, 'the term is lost');
    t.publish(['b-i']);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(acquires()).toBe(before);
    expect(b.m.status.phase).toBe('stepping-down');
    open();
    await until(() => t.steps.includes('end demote'), 'demoted');
    await until(() => b.m.status.phase === 'standby', 'standby after the demote');
    expect(acquires()).toBe(before); // held off: the others go first
  });

  it('attack: a sitting primary (no demote configured) loses its term to a brief lease lapse (a renewal answered LOCK_NOT_HELD) and is held off: the standby campaigns first and promotes', async () => {
    const t = mesh();
    const a = t.add('a', undefined, true);
    t.add('b');
    t.publish(['a-i', 'b-i']);
    await until(() => a.m.status.phase === 'primary', 'a primary');
    const term = a.m.status.term as number;
    // The lease lapsed at the control plane, its notice never reached the agent: the next renewal gets LOCK_NOT_HELD.
    const e = standIn.entries.get(`election/${FAILOVER_ELECTION}`);
    if (e === undefined) throw new Error('no election');
    clearTimeout(e.timer);
    e.state = { kind: e.state.kind, name: e.state.name, service: e.state.service, revision: e.state.revision + 1 };
    await until(() => a.m.status.term === undefined, 'the term is lost');
    expect(a.health.state.role).toBe('primary'); // no demote: PostgreSQL is still the primary
    t.publish(['a-i', 'b-i']); // the control plane lists the sitting primary first
    await until(() => t.election()?.holder !== undefined, 'a new term');
    expect(t.election()?.holder?.instanceId).toBe('a-i');
    await until(() => a.m.status.phase === 'primary', 'a primary again');
    expect(a.m.status.term).toBeGreaterThan(term);
    expect(t.ran.filter((r) => r.who === 'b-i')).toEqual([]); // b never promoted
  });

  it('stop() during a slow promote aborts its command (the runner kills it) and starts no queued one', async () => {
    const t = mesh();
    const b = t.add('b');
    b.promoteGate = new Promise<void>(() => undefined);
    t.publish(['b-i']);
    await until(() => t.steps.includes('start promote'), 'promote started');
    b.m.stop();
    expect(t.signals.map((s) => s.aborted)).toEqual([true]);
  });
});
