import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Hello, PROTOCOL_VERSION } from '@meshlet/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStore } from '../store/file-store.js';
import { checkJoin } from './check-join.js';
import { JoinCredentialStore } from './join-credential-store.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
async function credentials(now: () => number = () => 0): Promise<JoinCredentialStore> {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-check-join-'));
  dirs.push(dir);
  const store = new FileStore(dir);
  await store.open();
  return new JoinCredentialStore(store, now);
}
function hello(joinToken: string | undefined, service?: string, clientService?: string): Hello {
  return {
    type: 'hello',
    protocolVersion: PROTOCOL_VERSION,
    agentId: 'a1',
    tableVersion: 0,
    ...(joinToken === undefined ? {} : { joinToken }),
    ...(service === undefined
      ? {}
      : { instance: { service, id: `${service}-1`, host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} } }),
    ...(clientService === undefined ? {} : { service: clientService }),
  } as Hello;
}
const SHARED = 'shared-token-0123456789';

describe('checkJoin', () => {
  it('a hello without a credential is refused, even before any credential was minted', async () => {
    const c = await credentials();
    expect(checkJoin(hello(undefined, 'orders'), { sharedToken: undefined, credentials: c })).toMatchObject({
      ok: false,
      reason: 'missing',
      message: expect.stringContaining('meshctl token create --service'),
    });
    expect(checkJoin(hello(undefined), { sharedToken: undefined, credentials: c })).toMatchObject({
      ok: false,
      reason: 'missing',
    });
  });

  it('admits a credential for its own service, and refuses another service', async () => {
    const c = await credentials();
    const { record, credential } = await c.create('orders', 60_000);
    const policy = { sharedToken: undefined, credentials: c };
    expect(checkJoin(hello(credential, 'orders'), policy)).toEqual({
      ok: true,
      credentialId: record.id,
      service: 'orders',
    });
    expect(checkJoin(hello(credential, 'orders', 'orders'), policy)).toMatchObject({ ok: true });
    expect(checkJoin(hello(credential, 'payments'), policy)).toEqual({
      ok: false,
      reason: 'wrong_service',
      message: 'a credential for orders cannot register payments',
      credentialId: record.id,
    });
    expect(checkJoin(hello(credential, 'orders', 'payments'), policy)).toMatchObject({
      ok: false,
      reason: 'wrong_service',
      message: 'the hello names service payments but registers an instance of orders',
    });
  });

  it("binds a client-only agent to the service it names, which must be its credential's", async () => {
    const c = await credentials();
    const { record, credential } = await c.create('orders', 60_000);
    const policy = { sharedToken: undefined, credentials: c };
    expect(checkJoin(hello(credential, undefined, 'orders'), policy)).toEqual({
      ok: true,
      credentialId: record.id,
      service: 'orders',
    });
    expect(checkJoin(hello(credential, undefined, 'payments'), policy)).toEqual({
      ok: false,
      reason: 'wrong_service',
      message: 'a credential for orders cannot act for payments',
      credentialId: record.id,
    });
    expect(checkJoin(hello(credential), policy)).toEqual({
      ok: false,
      reason: 'no_service',
      message: `a client-only agent must name its service: set service: orders in the agent config (the service its credential ${record.id} is for)`,
      credentialId: record.id,
    });
  });

  it('refuses a hello without a credential once one exists, even after it was revoked', async () => {
    const c = await credentials();
    const { record } = await c.create('orders', 60_000);
    const policy = { sharedToken: undefined, credentials: c };
    expect(checkJoin(hello(undefined, 'orders'), policy)).toMatchObject({ ok: false, reason: 'missing' });
    expect(checkJoin(hello('anything-at-all', 'orders'), policy)).toMatchObject({
      ok: false,
      reason: 'shared_token_mismatch',
    });
    await c.revoke(record.id);
    expect(checkJoin(hello(undefined, 'orders'), policy)).toMatchObject({ ok: false, reason: 'missing' });
  });

  it('refuses expired, revoked, unknown and malformed credentials, naming why', async () => {
    let now = 0;
    const c = await credentials(() => now);
    const policy = { sharedToken: SHARED, credentials: c };
    const old = await c.create('orders', 1_000);
    const gone = await c.create('orders', 60_000);
    await c.revoke(gone.record.id);
    now = 1_000;
    expect(checkJoin(hello(old.credential, 'orders'), policy)).toMatchObject({ ok: false, reason: 'expired' });
    expect(checkJoin(hello(gone.credential, 'orders'), policy)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(checkJoin(hello(`mjc_0123456789abcdef_${'x'.repeat(43)}`), policy)).toMatchObject({ reason: 'unknown' });
    expect(checkJoin(hello('mjc_short'), policy)).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('admits the shared join token, as any service, only when the operator allowed it', async () => {
    const c = await credentials();
    await c.create('orders', 60_000);
    const policy = { sharedToken: SHARED, credentials: c };
    expect(checkJoin(hello(SHARED, 'payments'), policy)).toEqual({ ok: true });
    expect(checkJoin(hello(SHARED), policy)).toEqual({ ok: true });
    expect(checkJoin(hello(`${SHARED}x`, 'payments'), policy)).toMatchObject({ ok: false });
    expect(checkJoin(hello(undefined, 'payments'), policy)).toMatchObject({ ok: false, reason: 'missing' });
    const disallowed = { sharedToken: undefined, credentials: c };
    expect(checkJoin(hello(SHARED, 'payments'), disallowed)).toMatchObject({
      ok: false,
      reason: 'shared_token_mismatch',
      message: expect.stringContaining('accepts no shared join token'),
    });
  });

  it('a shared-token hello naming another service than its instance is refused as wrong_service', async () => {
    const policy = { sharedToken: SHARED, credentials: await credentials() };
    expect(checkJoin(hello(SHARED, 'orders', 'payments'), policy)).toEqual({
      ok: false,
      reason: 'wrong_service',
      message: 'the hello names service payments but registers an instance of orders',
    });
    expect(checkJoin(hello(SHARED, 'orders', 'orders'), policy)).toEqual({ ok: true });
  });
});
