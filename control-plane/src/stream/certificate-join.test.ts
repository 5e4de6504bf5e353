import { createLogger, type Hello, PROTOCOL_VERSION } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import type { JoinDecision } from '../join/check-join.js';
import { createMetrics } from '../metrics.js';
import { instance } from '../registry/test-support/agent-record.js';
import { type AdmissionContext, admissionAuth, admitHello } from './admit-hello.js';
import type { CertifiedAgent } from './stream-certificate-auth.js';

const hello = (over: Partial<Hello> = {}): Hello => ({
  type: 'hello',
  protocolVersion: PROTOCOL_VERSION,
  agentId: 'hello-1',
  tableVersion: 0,
  ...over,
});

const helloOne: CertifiedAgent = {
  service: 'hello',
  instanceId: 'hello-1',
  spiffeId: 'spiffe://meshlet.local/svc/hello',
  serialNumber: '01',
  notAfterMs: Date.parse('2026-12-05T12:00:00Z'),
};

/** A context whose join credential check answers `decision`, and counts how often it was asked. */
function context(decision: JoinDecision): AdmissionContext & { asked: () => number } {
  let asked = 0;
  return {
    checkJoin: () => {
      asked++;
      return decision;
    },
    metrics: createMetrics(),
    log: createLogger('test', 'silent'),
    asked: () => asked,
  };
}

const revoked: JoinDecision = { ok: false, reason: 'revoked', message: 'join credential c-1 was revoked' };

const refusals = async (ctx: AdmissionContext, reason: string): Promise<number> =>
  (await ctx.metrics.joinRefusals.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;

describe('admitHello with a client certificate', () => {
  it('admits the instance of its certificate without looking at the join credential (revoked or absent)', () => {
    const ctx = context(revoked);
    const h = hello({ instance: instance('hello-1', 'hello'), joinToken: 'mjc_revoked' });
    const out = admitHello(h, ctx, '127.0.0.1', [], helloOne);
    expect(out).toEqual({ ok: true, service: 'hello', certificate: helloOne });
    expect(ctx.asked()).toBe(0);
    expect(admitHello(hello({ instance: instance('hello-1', 'hello') }), ctx, '127.0.0.1', [], helloOne).ok).toBe(true);
    if (out.ok) expect(admissionAuth(out, h)).toBe('certificate');
  });

  it('admits a client-only agent whose agent id and service are its certificate instance and service', () => {
    const out = admitHello(hello({ service: 'hello' }), context(revoked), '127.0.0.1', [], helloOne);
    expect(out).toMatchObject({ ok: true, service: 'hello' });
  });

  it('attack: a certificate for hello claims orders, and is refused as wrong_service with a clear reason', async () => {
    const ctx = context({ ok: true, credentialId: 'c-orders', service: 'orders' });
    for (const h of [
      hello({ instance: instance('hello-1', 'orders') }),
      hello({ service: 'orders' }),
      hello({ instance: instance('hello-1', 'hello'), service: 'orders' }),
    ]) {
      const out = admitHello(h, ctx, '127.0.0.1', [], helloOne);
      expect(out).toMatchObject({ ok: false, code: 'MESHLET_JOIN_TOKEN_INVALID', closeCode: 4003 });
    }
    const out = admitHello(hello({ instance: instance('hello-1', 'orders') }), ctx, '127.0.0.1', [], helloOne);
    expect(out.ok === false && out.message).toBe(
      "client certificate is for service hello; the hello claims orders: an agent acts only for its certificate's service",
    );
    expect(await refusals(ctx, 'wrong_service')).toBe(4);
    // Even a valid credential for orders does not let the certified stream speak for orders.
    expect(ctx.asked()).toBe(0);
  });

  it('attack: a certificate of hello-1 claims another instance or agent id, and is refused as wrong_instance', async () => {
    const ctx = context({ ok: true, credentialId: 'c-hello', service: 'hello' });
    const other = admitHello(hello({ instance: instance('hello-2', 'hello') }), ctx, '127.0.0.1', [], helloOne);
    expect(other.ok === false && other.message).toBe(
      "client certificate is for instance hello-1 of hello; the hello is instance hello-2: present that instance's own certificate",
    );
    const clientOnly = admitHello(hello({ agentId: 'hello-2', service: 'hello' }), ctx, '127.0.0.1', [], helloOne);
    expect(clientOnly).toMatchObject({ ok: false, closeCode: 4003 });
    expect(await refusals(ctx, 'wrong_instance')).toBe(2);
  });

  it('still refuses taking over an agent id held for another service', () => {
    const held = { admittedFor: 'orders', instance: instance('orders-1', 'orders') };
    const out = admitHello(
      hello({ instance: instance('hello-1', 'hello') }),
      context(revoked),
      '127.0.0.1',
      [held],
      helloOne,
    );
    expect(out).toMatchObject({ ok: false, closeCode: 4003 });
  });

  it('labels admissions by how the agent authenticated', () => {
    expect(admissionAuth({ ok: true, credentialId: 'c', service: 's' }, hello({ joinToken: 'mjc_x' }))).toBe(
      'credential',
    );
    expect(admissionAuth({ ok: true }, hello({ joinToken: 'shared-secret-token' }))).toBe('shared_token');
    expect(admissionAuth({ ok: true }, hello())).toBe('open');
  });
});
