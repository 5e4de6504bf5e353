import { createLogger, type Hello, PROTOCOL_VERSION } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import type { JoinDecision } from '../join/check-join.js';
import { createMetrics } from '../metrics.js';
import { parseRegistration, registrationOf } from '../registry/agent-record.js';
import { Registry } from '../registry/registry.js';
import { RemoteAgents } from '../registry/remote-agents.js';
import { instance } from '../registry/test-support/agent-record.js';
import { type AdmissionContext, admitHello, type AgentIdHolder } from './admit-hello.js';

const hello = (over: Partial<Hello> = {}): Hello => ({
  type: 'hello',
  protocolVersion: PROTOCOL_VERSION,
  agentId: 'orders-agent-1',
  tableVersion: 0,
  ...over,
});

/** A context whose join check admits every hello as `decision` says. */
function context(decision: JoinDecision): AdmissionContext {
  return { checkJoin: () => decision, metrics: createMetrics(), log: createLogger('test', 'silent') };
}

const refusals = async (ctx: AdmissionContext, reason: string): Promise<number> =>
  (await ctx.metrics.joinRefusals.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;

const reports: JoinDecision = { ok: true, credentialId: 'c-reports', service: 'reports' };

describe('admitHello: taking over an agent id', () => {
  const ordersAgent: AgentIdHolder = { admittedFor: 'orders', instance: instance('orders-1', 'orders') };

  it('refuses a credential for one service replacing an agent admitted for another, as wrong_service', async () => {
    for (const h of [
      hello({ instance: instance('reports-1', 'reports') }),
      hello(), // client-only: registers nothing, but would still close the orders agent
    ]) {
      const ctx = context(reports);
      const out = admitHello(h, ctx, '127.0.0.1', [ordersAgent]);
      expect(out).toEqual({
        ok: false,
        code: 'MESHLET_JOIN_TOKEN_INVALID',
        message: 'a credential for reports cannot take over agent orders-agent-1 of orders',
        closeCode: 4003,
      });
      expect(await refusals(ctx, 'wrong_service')).toBe(1);
    }
  });

  it('refuses it when the held instance is of another service, however that agent joined (shared token, open mode)', () => {
    const sharedTokenAgent: AgentIdHolder = { instance: instance('orders-1', 'orders') };
    expect(admitHello(hello(), context(reports), '127.0.0.1', [sharedTokenAgent])).toMatchObject({ ok: false });
    const clientOnlyForOrders: AgentIdHolder = { admittedFor: 'orders', instance: undefined };
    expect(admitHello(hello(), context(reports), '127.0.0.1', [{}, clientOnlyForOrders])).toMatchObject({ ok: false });
  });

  it("admits the same service's credential, an agent id nobody holds, and one held with no service", () => {
    const orders: JoinDecision = { ok: true, credentialId: 'c-orders', service: 'orders' };
    const ordersHello = hello({ instance: instance('orders-1', 'orders') });
    expect(admitHello(ordersHello, context(orders), '127.0.0.1', [ordersAgent])).toEqual({
      ok: true,
      credentialId: 'c-orders',
      service: 'orders',
    });
    expect(admitHello(hello(), context(reports), '127.0.0.1', [])).toMatchObject({ ok: true, service: 'reports' });
    expect(admitHello(hello(), context(reports), '127.0.0.1', [{ instance: undefined }])).toMatchObject({ ok: true });
  });

  it("a shared-token hello taking over a credential's agent id is refused as wrong_service", async () => {
    const shared = hello({ instance: instance('orders-2', 'orders') });
    const clientOnlyForOrders: AgentIdHolder = { admittedFor: 'orders', instance: undefined, connected: false };
    for (const holder of [ordersAgent, clientOnlyForOrders]) {
      const ctx = context({ ok: true });
      expect(admitHello(shared, ctx, '127.0.0.1', [{}, holder])).toEqual({
        ok: false,
        code: 'MESHLET_JOIN_TOKEN_INVALID',
        message:
          'the shared join token cannot take over agent orders-agent-1, admitted with a credential for orders: use a credential for orders',
        closeCode: 4003,
      });
      expect(await refusals(ctx, 'wrong_service')).toBe(1);
    }
  });

  it('the shared token still takes over an agent id held by a shared-token agent (moving ids between hosts)', () => {
    const sharedAgent: AgentIdHolder = { instance: instance('orders-1', 'orders') };
    const shared = hello({ instance: instance('orders-2', 'orders') });
    expect(admitHello(shared, context({ ok: true }), '127.0.0.1', [sharedAgent])).toEqual({ ok: true });
  });

  it('a client-only hello taking over a live agent that fronts an instance is refused as instance_held', async () => {
    const orders: JoinDecision = { ok: true, credentialId: 'c-orders', service: 'orders' };
    const sharedAgent: AgentIdHolder = { instance: instance('orders-1', 'orders') };
    const cases: [JoinDecision, AgentIdHolder][] = [
      [orders, ordersAgent],
      [orders, { ...ordersAgent, connected: true, replica: { orphaned: false } }],
      [{ ok: true }, sharedAgent], // the shared token
    ];
    for (const [decision, holder] of cases) {
      const ctx = context(decision);
      expect(admitHello(hello(), ctx, '127.0.0.1', [holder])).toMatchObject({
        ok: false,
        message:
          'agent orders-agent-1 is connected and fronts an instance; a client-only agent cannot take its id over: give it its own agentId',
        closeCode: 4003,
      });
      expect(await refusals(ctx, 'instance_held')).toBe(1);
    }
    // Not live any more: the id is free for a client-only agent.
    for (const gone of [
      { ...ordersAgent, connected: false },
      { ...ordersAgent, replica: { orphaned: true } },
    ])
      expect(admitHello(hello(), context(orders), '127.0.0.1', [gone])).toMatchObject({ ok: true });
  });

  it('refuses the takeover of an agent connected to another replica, as its registration arrives through etcd', () => {
    const there = new Registry({ clock: () => 0, onChange: () => undefined });
    const local = there.connect(hello(), '127.0.0.1', 'orders'); // client-only, admitted for orders
    const here = new Registry({ clock: () => 0, onChange: () => undefined });
    const reg = parseRegistration('orders-agent-1', JSON.parse(JSON.stringify(registrationOf('A', local))));
    if (reg === undefined) throw new Error('registration did not parse');
    new RemoteAgents(here, { clock: () => 0 }).apply(reg);
    const held = here.get('orders-agent-1');
    expect(held?.admittedFor).toBe('orders');
    expect(admitHello(hello(), context(reports), '127.0.0.1', held ? [held] : [])).toMatchObject({
      ok: false,
      message: 'a credential for reports cannot take over agent orders-agent-1 of orders',
    });
  });
});

describe('admitHello: a certificate login', () => {
  const certificate = {
    service: 'orders',
    instanceId: 'orders-1',
    spiffeId: 'spiffe://meshlet.local/svc/orders',
    serialNumber: '01',
    notAfterMs: Date.now() + 60_000,
  };

  it('attack: a certificate of orders-1 taking over the agent id of live orders-2 is refused as wrong_instance', async () => {
    const ctx = context({ ok: false, reason: 'missing', message: 'not asked' });
    const orders2: AgentIdHolder = { admittedFor: 'orders', instance: instance('orders-2', 'orders') };
    const out = admitHello(
      hello({ agentId: 'orders-agent-2', instance: instance('orders-1', 'orders') }),
      ctx,
      '127.0.0.1',
      [orders2],
      certificate,
    );
    expect(out).toMatchObject({ ok: false, closeCode: 4003 });
    expect((out as { message: string }).message).toContain('fronts instance orders-2');
    expect(await refusals(ctx, 'wrong_instance')).toBe(1);
    // Its own agent id, held by its own earlier stream: a reconnect, admitted.
    const self: AgentIdHolder = { admittedFor: 'orders', instance: instance('orders-1', 'orders') };
    expect(
      admitHello(hello({ instance: instance('orders-1', 'orders') }), ctx, '127.0.0.1', [self], certificate),
    ).toMatchObject({ ok: true, service: 'orders' });
  });
});

describe('admitHello: wrong credentials are throttled per address, failures only', () => {
  /** A throttle that blocks an address after `max` failures (the real one is StreamUpgrade, over AuthFailures). */
  const throttle = (max: number) => {
    const failures = new Map<string, number>();
    return {
      blockedForMs: (address: string) => ((failures.get(address) ?? 0) >= max ? 60_000 : 0),
      failed: (address: string) => void failures.set(address, (failures.get(address) ?? 0) + 1),
    };
  };
  const wrong: JoinDecision = { ok: false, reason: 'unknown', message: 'join credential is unknown' };

  it('refuses a wrong credential from a blocked address with 4029, keeping the reason, and lets a valid one in', () => {
    const t = throttle(2);
    const ctx = { ...context(wrong), throttle: t };
    const codes = [1, 2, 3].map(() => {
      const out = admitHello(hello(), ctx, '10.0.0.1');
      return out.ok ? 0 : out.closeCode;
    });
    expect(codes).toEqual([4003, 4003, 4029]);
    const blocked = admitHello(hello(), ctx, '10.0.0.1');
    expect(blocked).toMatchObject({ ok: false, code: 'MESHLET_TOO_MANY_JOIN_FAILURES' });
    expect(!blocked.ok && blocked.message).toContain('join credential is unknown');
    expect(admitHello(hello(), { ...context(reports), throttle: t }, '10.0.0.1').ok).toBe(true);
    // Another address, and a valid credential misused (not a guess), are not counted against anyone.
    expect(admitHello(hello(), ctx, '10.0.0.2')).toMatchObject({ closeCode: 4003 });
    const misuse: JoinDecision = { ok: false, reason: 'wrong_service', message: 'for reports', credentialId: 'c' };
    const t2 = throttle(1);
    admitHello(hello(), { ...context(misuse), throttle: t2 }, '10.0.0.3');
    expect(t2.blockedForMs('10.0.0.3')).toBe(0);
  });
});
