import type { ManagedFailoverPolicy, ServiceRoutes } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import type { MeshEvent } from '../../events/event-log.js';
import { InstanceRoles } from '../../health/instance-roles.js';
import { type ElectionView, ManagedFailover } from './managed-failover.js';

const POLICY: ManagedFailoverPolicy = {
  mode: 'managed',
  maxLagBytes: 1000,
  leaseMs: 3000,
  candidateStaggerMs: 1000,
  switchoverTimeoutMs: 30_000,
};

function setup(members = ['pg-1', 'pg-2', 'pg-3']) {
  let now = 1_000;
  let election: ElectionView | undefined;
  const events: Omit<MeshEvent, 'seq' | 'time'>[] = [];
  let changes = 0;
  const roles = new InstanceRoles();
  const routable = new Set(members);
  const priority = new Map(members.map((m) => [m, 1]));
  const policy: { p: ManagedFailoverPolicy | undefined } = { p: POLICY };
  const mf = new ManagedFailover({
    roles,
    policyOf: () => policy.p,
    services: () => ['pg'],
    members: () => members.map((id) => ({ id, routable: routable.has(id), priority: priority.get(id) })),
    events: { add: (e) => events.push(e) },
    clock: () => now,
    onChange: () => changes++,
  });
  mf.useElections(() => election);
  const report = (id: string, role: 'primary' | 'replica', offset: number, healthy = true) =>
    roles.record('pg', id, { role, replicationOffset: offset, healthy, at: now });
  const elect = (holder: string | undefined, token = 0, reason: 'acquired' | 'expired' | 'released' = 'acquired') => {
    election = holder === undefined ? undefined : { holder, token };
    mf.electionChanged('pg', election, reason);
  };
  return {
    mf,
    events,
    roles,
    routable,
    priority,
    policy,
    report,
    elect,
    advance: (ms: number) => (now += ms),
    changes: () => changes,
  };
}

describe('ManagedFailover', () => {
  it('publishes nothing for a service that is not managed', () => {
    const t = setup();
    t.policy.p = undefined;
    const routes: ServiceRoutes = { endpoints: [] };
    t.mf.attach('pg', routes);
    expect(routes.failover).toBeUndefined();
  });

  it('ranks healthy standbys within maxLagBytes by offset, then priority; the primary only once its check says so', () => {
    const t = setup(['pg-1', 'pg-2', 'pg-3', 'pg-4']);
    t.report('pg-1', 'primary', 10_000);
    t.report('pg-2', 'replica', 9_500);
    t.report('pg-3', 'replica', 9_900);
    t.report('pg-4', 'replica', 5_000); // 5000 behind: not a candidate
    t.elect('pg-1', 7);
    expect(t.mf.state('pg')).toEqual({ term: 7, holder: 'pg-1', primary: 'pg-1', candidates: ['pg-3', 'pg-2'] });
    t.report('pg-3', 'replica', 9_500);
    t.priority.set('pg-2', 5);
    expect(t.mf.state('pg')?.candidates).toEqual(['pg-2', 'pg-3']);
    t.priority.set('pg-2', 0); // priority 0: never promoted automatically
    t.routable.delete('pg-3'); // ejected
    expect(t.mf.state('pg')?.candidates).toEqual([]);
  });

  it('keeps the last term while the election is vacant, and ranks against the last primary offset', () => {
    const t = setup();
    t.report('pg-1', 'primary', 10_000);
    t.report('pg-2', 'replica', 9_500);
    t.report('pg-3', 'replica', 8_000);
    t.elect('pg-1', 7);
    t.mf.state('pg');
    t.routable.delete('pg-1'); // its agent died
    t.roles.forget('pg', 'pg-1');
    t.elect(undefined, 0, 'expired');
    expect(t.mf.state('pg')).toEqual({ term: 7, candidates: ['pg-2'] });
    // The holder is not published as primary until its check says primary.
    t.elect('pg-2', 9);
    expect(t.mf.state('pg')).toEqual({ term: 9, holder: 'pg-2', candidates: [] });
    t.report('pg-2', 'primary', 9_600);
    expect(t.mf.state('pg')).toMatchObject({ term: 9, holder: 'pg-2', primary: 'pg-2' });
    const steps = t.events.map((e) => [e.evidence['step'], e.from, e.to]);
    expect(steps).toEqual([
      ['term-began', 'none', 'pg-1'],
      ['primary-published', 'none', 'pg-1'],
      ['term-ended', 'pg-1', 'none'],
      ['term-began', 'pg-1', 'pg-2'],
      ['primary-published', 'none', 'pg-2'],
    ]);
    const began = t.events[3] as MeshEvent;
    expect(began.evidence).toMatchObject({ term: 9, previousTerm: 7, lagBytes: { new: 500 } });
    expect(began.reason).toMatch(/lease lapsed/);
  });

  it('a sitting primary comes first while the election is vacant; before any term, standbys wait leaseMs for one', () => {
    const t = setup();
    t.report('pg-2', 'replica', 10_000);
    // A new service: the standby is no candidate yet (the primary's agent may connect a moment later).
    expect(t.mf.state('pg')?.candidates).toEqual([]);
    t.report('pg-1', 'primary', 10_000);
    expect(t.mf.state('pg')?.candidates).toEqual(['pg-1']);
    expect(t.mf.refusal('pg', 'pg-2')).toMatch(/not a failover candidate/);
    t.advance(POLICY.leaseMs);
    expect(t.mf.state('pg')?.candidates).toEqual(['pg-1', 'pg-2']);
    expect(t.mf.refusal('pg', 'pg-1')).toBeUndefined();
  });

  it('a stale former primary (not the last holder, far behind) is no candidate: the caught-up standby takes the vacant term', () => {
    const t = setup();
    t.report('pg-1', 'primary', 1_000); // term 5's primary; its rejoin failed: its check still says primary
    t.report('pg-2', 'primary', 50_000);
    t.report('pg-3', 'replica', 50_000);
    t.elect('pg-2', 7);
    t.mf.state('pg');
    t.routable.delete('pg-2'); // pg-2 dies
    t.roles.forget('pg', 'pg-2');
    t.elect(undefined, 0, 'expired');
    expect(t.mf.state('pg')?.candidates).toEqual(['pg-3']);
    expect(t.mf.refusal('pg', 'pg-1')).toMatch(/pg-1 is not a failover candidate/);
    // The last holder whose agent restarted with its check still primary comes first, when within maxLagBytes.
    t.routable.add('pg-2');
    t.report('pg-2', 'primary', 50_000);
    expect(t.mf.state('pg')?.candidates).toEqual(['pg-2', 'pg-3']);
  });

  it('a sitting primary far behind the best reported offset is no candidate, even before any term is known', () => {
    const t = setup();
    t.report('pg-1', 'primary', 1_000);
    t.report('pg-2', 'replica', 50_000);
    expect(t.mf.state('pg')?.candidates).toEqual([]);
    t.advance(POLICY.leaseMs);
    expect(t.mf.state('pg')?.candidates).toEqual(['pg-2']);
  });

  it('attack: after a control-plane restart (no term known) a stale sitting primary within the default maxLagBytes is listed before a caught-up standby: it is no candidate', () => {
    const t = setup();
    t.policy.p = { ...POLICY, maxLagBytes: 1_048_576 }; // the default
    t.report('pg-1', 'primary', 1_000); // a former primary whose rejoin failed
    t.report('pg-3', 'replica', 50_000);
    expect(t.mf.state('pg')?.candidates ?? []).not.toContain('pg-1'); // the bootstrap hold
    t.advance(POLICY.leaseMs);
    expect(t.mf.state('pg')?.candidates).toEqual(['pg-3']);
    expect(t.mf.refusal('pg', 'pg-1')).toMatch(/pg-1 is not a failover candidate/);
    t.report('pg-1', 'primary', 50_000); // as far as the best standby: the sitting primary goes first (no promote)
    expect(t.mf.state('pg')?.candidates).toEqual(['pg-1', 'pg-3']);
  });

  it("attack: a vacant election with the last holder still primary and its report older than a standby's: the holder is listed first, never the standby alone", () => {
    const t = setup(['pg-1', 'pg-2']);
    t.report('pg-1', 'primary', 1_000);
    t.report('pg-2', 'replica', 1_000);
    t.elect('pg-1', 7);
    t.mf.state('pg');
    t.elect(undefined, 0, 'expired'); // its lease lapsed (renewals unanswered); PostgreSQL is still the primary
    t.report('pg-2', 'replica', 1_500); // streamed from pg-1 past pg-1's last report (writes went on to 1500)
    expect(t.mf.state('pg')?.candidates).toEqual(['pg-1', 'pg-2']);
    t.advance(10 * POLICY.leaseMs);
    expect(t.mf.state('pg')?.candidates[0]).toBe('pg-1');
    expect(t.mf.refusal('pg', 'pg-2')).toBeUndefined(); // a candidate, after pg-1's stagger
  });

  it("attack: no term known, a standby's newer report ahead of the sitting primary's: nobody campaigns until it stayed behind leaseMs; it catches up: it wins", () => {
    const t = setup(['pg-1', 'pg-2']);
    t.report('pg-1', 'primary', 1_000);
    expect(t.mf.state('pg')?.candidates).toEqual(['pg-1']);
    t.advance(POLICY.leaseMs); // past the bootstrap hold
    t.report('pg-2', 'replica', 1_500);
    expect(t.mf.state('pg')?.candidates).toEqual([]);
    t.advance(POLICY.leaseMs - 1);
    expect(t.mf.state('pg')?.candidates).toEqual([]);
    t.report('pg-1', 'primary', 1_600); // its next report, within the window
    expect(t.mf.state('pg')?.candidates).toEqual(['pg-1', 'pg-2']);
    // Behind again later: the window starts over (cleared when it caught up).
    t.report('pg-2', 'replica', 2_000);
    expect(t.mf.state('pg')?.candidates).toEqual([]);
    t.advance(POLICY.leaseMs - 1);
    expect(t.mf.state('pg')?.candidates).toEqual([]);
    t.advance(1);
    expect(t.mf.state('pg')?.candidates).toEqual(['pg-2']);
  });

  it('refuses the election to a non-candidate while there are candidates, naming them and its lag', () => {
    const t = setup();
    t.report('pg-1', 'primary', 10_000);
    t.report('pg-2', 'replica', 9_900);
    t.report('pg-3', 'replica', 1_000);
    t.elect('pg-1', 3);
    t.mf.state('pg');
    t.elect(undefined, 0, 'released');
    t.roles.record('pg', 'pg-1', { role: 'primary', replicationOffset: 10_000, healthy: false, at: 0 });
    expect(t.mf.refusal('pg', 'pg-3')).toMatch(/pg-3 is not a failover candidate.*9000 bytes behind.*pg-2/);
    expect(t.mf.refusal('pg', 'pg-2')).toBeUndefined();
    // No candidate at all: anyone may take it (better a lagging primary than none; maxLagBytes is about automatic choice).
    t.report('pg-2', 'replica', 9_900, false);
    expect(t.mf.refusal('pg', 'pg-3')).toBeUndefined();
  });

  it('a switchover: published until the target is the primary of a newer term (events requested and completed)', () => {
    const t = setup();
    t.report('pg-1', 'primary', 10_000);
    t.report('pg-2', 'replica', 9_990);
    t.elect('pg-1', 3);
    const out = t.mf.requestSwitchover('pg', 'pg-2', 'ops');
    expect(out).toMatchObject({ ok: true, state: { switchoverTo: 'pg-2' } });
    expect(t.mf.describe('pg')?.state.switchoverCaughtUp).toBeUndefined();
    t.report('pg-2', 'replica', 10_000);
    expect(t.mf.describe('pg')?.state.switchoverCaughtUp).toBe(true);
    expect(t.mf.refusal('pg', 'pg-3')).toMatch(/switchover .* in progress/);
    t.elect(undefined, 0, 'released');
    t.elect('pg-2', 5);
    t.report('pg-2', 'primary', 10_000);
    t.report('pg-1', 'replica', 10_000);
    expect(t.mf.state('pg')).toMatchObject({ term: 5, primary: 'pg-2' });
    expect(t.mf.state('pg')?.switchoverTo).toBeUndefined();
    const steps = t.events.map((e) => e.evidence['step']);
    expect(steps).toContain('switchover-completed');
    expect(t.events.find((e) => e.evidence['step'] === 'term-began' && e.to === 'pg-2')?.evidence['cause']).toBe(
      'switchover',
    );
  });

  it("a switchover publishes the target's offset for the primary to compare with its own after its fence", () => {
    const t = setup();
    t.report('pg-1', 'primary', 10_000);
    t.report('pg-2', 'replica', 9_990);
    t.elect('pg-1', 3);
    expect(t.mf.requestSwitchover('pg', 'pg-2', 'ops').ok).toBe(true);
    expect(t.mf.state('pg')?.switchoverTargetOffset).toBe(9_990);
    t.report('pg-2', 'replica', 10_400);
    expect(t.mf.state('pg')?.switchoverTargetOffset).toBe(10_400);
  });

  it('a switchover whose target fell behind maxLagBytes: the target is refused the vacant term, the switchover abandoned, a caught-up standby may take it', () => {
    const t = setup();
    t.report('pg-1', 'primary', 10_000);
    t.report('pg-2', 'replica', 9_990);
    t.report('pg-3', 'replica', 10_000);
    t.elect('pg-1', 3);
    expect(t.mf.requestSwitchover('pg', 'pg-2', 'ops').ok).toBe(true);
    t.report('pg-2', 'replica', 8_000); // its replication stalled: 2000 behind
    t.elect(undefined, 0, 'released');
    expect(t.mf.refusal('pg', 'pg-2')).toMatch(/pg-2 is not a failover candidate/);
    expect(t.mf.state('pg')?.switchoverTo).toBeUndefined();
    expect(t.events.at(-1)?.evidence['step']).toBe('switchover-abandoned');
    expect(t.mf.refusal('pg', 'pg-3')).toBeUndefined();
  });

  it('a new control plane (no primary seen) counts lag from the highest reported offset: a far-behind standby is no candidate', () => {
    const t = setup();
    t.report('pg-2', 'replica', 10_000);
    t.report('pg-3', 'replica', 1_000);
    expect(t.mf.state('pg')?.candidates).toEqual([]); // first seen now: standbys wait leaseMs for a sitting primary
    t.advance(POLICY.leaseMs);
    expect(t.mf.state('pg')?.candidates).toEqual(['pg-2']);
  });

  it('attack: an older agent hands over on switchoverCaughtUp in its table (computed from the pre-fence report): tables never carry it', () => {
    const t = setup();
    t.report('pg-1', 'primary', 10_000);
    t.report('pg-2', 'replica', 10_000);
    t.elect('pg-1', 3);
    expect(t.mf.requestSwitchover('pg', 'pg-2', 'ops')).toMatchObject({
      ok: true,
      state: { switchoverCaughtUp: true },
    });
    const routes: ServiceRoutes = { endpoints: [] };
    t.mf.attach('pg', routes);
    expect(routes.failover).toMatchObject({ switchoverTo: 'pg-2', switchoverTargetOffset: 10_000 });
    expect(routes.failover?.switchoverCaughtUp).toBeUndefined();
    expect(t.mf.state('pg')?.switchoverCaughtUp).toBeUndefined();
    expect(t.mf.describe('pg')?.state.switchoverCaughtUp).toBe(true);
  });

  it('a switchover whose target dies while the fenced primary still holds is abandoned at once, never caught up from its last report', () => {
    const t = setup();
    t.report('pg-1', 'primary', 10_000);
    t.report('pg-2', 'replica', 10_000);
    t.elect('pg-1', 3);
    expect(t.mf.requestSwitchover('pg', 'pg-2', 'ops').ok).toBe(true);
    t.routable.delete('pg-2'); // its agent died; InstanceRoles still has its last report
    const s = t.mf.state('pg');
    expect(s?.switchoverTo).toBeUndefined();
    expect(s?.switchoverCaughtUp).toBeUndefined();
    expect(s?.switchoverTargetOffset).toBeUndefined();
    expect(t.events.at(-1)?.evidence['step']).toBe('switchover-abandoned');
    expect(s).toMatchObject({ term: 3, primary: 'pg-1' });
  });

  it('the end of a term is an event (the start of a write outage) with the cause read from the holder: check replica, check failed, never primary', () => {
    const t = setup();
    t.report('pg-1', 'primary', 10_000);
    t.report('pg-2', 'replica', 10_000);
    t.elect('pg-1', 3);
    t.mf.state('pg');
    t.report('pg-1', 'replica', 10_000);
    t.elect(undefined, 0, 'released');
    const ended = t.events.at(-1) as MeshEvent;
    expect(ended).toMatchObject({ from: 'pg-1', to: 'none' });
    expect(ended.evidence).toMatchObject({ step: 'term-ended', term: 3, holder: 'pg-1', wasPrimary: true });
    expect(ended.reason).toMatch(/term 3 ended: .*its check says replica/);
    t.elect('pg-2', 5);
    expect(t.events.at(-1)?.evidence['cause']).toMatch(/its check says replica/);
    t.mf.state('pg');
    t.report('pg-2', 'primary', 10_000, false);
    t.elect(undefined, 0, 'released');
    expect(t.events.at(-1)?.reason).toMatch(/term 5 ended: .*its check failed/);
    t.report('pg-3', 'replica', 10_000);
    t.elect('pg-3', 6); // never says primary
    t.mf.state('pg');
    t.elect(undefined, 0, 'released');
    expect(t.events.at(-1)?.reason).toMatch(/term 6 ended: .*never published as primary \(its promote failed/);
  });

  it("term-began's lagBytes.old is the old primary's distance from the most advanced offset known, not from itself", () => {
    const t = setup();
    t.report('pg-1', 'primary', 10_000);
    t.report('pg-2', 'replica', 10_000);
    t.elect('pg-1', 3);
    t.mf.state('pg');
    t.report('pg-1', 'primary', 4_000); // its database came back rewound
    t.elect(undefined, 0, 'expired');
    t.elect('pg-2', 5);
    expect(t.events.at(-1)?.evidence['lagBytes']).toEqual({ old: 6_000, new: 0 });
  });

  it('a switchover not done within switchoverTimeoutMs is abandoned (an event), and the primary stays', () => {
    const t = setup();
    t.report('pg-1', 'primary', 10_000);
    t.report('pg-2', 'replica', 9_990);
    t.elect('pg-1', 3);
    expect(t.mf.requestSwitchover('pg', 'pg-2', 'ops').ok).toBe(true);
    t.advance(30_000);
    expect(t.mf.state('pg')).toMatchObject({ term: 3, primary: 'pg-1' });
    expect(t.mf.state('pg')?.switchoverTo).toBeUndefined();
    expect(t.events.at(-1)?.evidence['step']).toBe('switchover-abandoned');
  });

  it('a switchover whose target goes away after the primary resigned is abandoned at once: the candidates may campaign', () => {
    const t = setup();
    t.report('pg-1', 'primary', 10_000);
    t.report('pg-2', 'replica', 10_000);
    t.report('pg-3', 'replica', 10_000);
    t.elect('pg-1', 3);
    expect(t.mf.requestSwitchover('pg', 'pg-2', 'ops').ok).toBe(true);
    t.elect(undefined, 0, 'released');
    expect(t.mf.refusal('pg', 'pg-3')).toMatch(/in progress/);
    t.routable.delete('pg-2');
    expect(t.mf.state('pg')?.switchoverTo).toBeUndefined();
    expect(t.events.at(-1)?.reason).toMatch(/abandoned pg-2 is not a healthy routed candidate/);
    expect(t.mf.refusal('pg', 'pg-3')).toBeUndefined();
  });

  it('refuses a switchover with the field and the fix: not managed, unknown instance, not a healthy replica, lag too big', () => {
    const t = setup();
    t.report('pg-1', 'primary', 100_000);
    t.report('pg-2', 'replica', 10);
    t.report('pg-3', 'replica', 100_000, false);
    t.elect('pg-1', 3);
    expect(t.mf.requestSwitchover('pg', 'other-1', 'ops')).toMatchObject({ ok: false, status: 404, field: 'to' });
    expect(t.mf.requestSwitchover('pg', 'pg-3', 'ops')).toMatchObject({ ok: false, status: 409, field: 'to' });
    expect(t.mf.requestSwitchover('pg', 'pg-2', 'ops')).toMatchObject({ ok: false, status: 409, field: 'to' });
    expect(t.mf.requestSwitchover('pg', 'pg-1', 'ops')).toMatchObject({ ok: false, status: 409 });
    t.policy.p = undefined;
    expect(t.mf.requestSwitchover('pg', 'pg-2', 'ops')).toMatchObject({ ok: false, status: 400 });
  });

  it('sweep pushes a table only when a published state changed (an offset moving a candidate)', () => {
    const t = setup();
    t.report('pg-1', 'primary', 10_000);
    t.report('pg-2', 'replica', 10_000);
    t.elect('pg-1', 3);
    const routes: ServiceRoutes = { endpoints: [] };
    t.mf.attach('pg', routes);
    const before = t.changes();
    t.mf.sweep();
    expect(t.changes()).toBe(before);
    t.roles.record('pg', 'pg-2', { role: 'replica', replicationOffset: 1, healthy: true, at: 0 });
    t.mf.sweep();
    expect(t.changes()).toBe(before + 1);
  });
});
