import { afterAll, describe, expect, it } from 'vitest';
import { sendAwayRevoked } from '../join/send-away-revoked.js';
import { JoinCredentialStore } from '../join/join-credential-store.js';
import type { AgentSession } from '../stream/agent-session.js';
import { restoreSnapshots, takeSnapshot, verifySnapshots } from './snapshot.js';
import { freshStore, removeStores } from './test-support/stores.js';

afterAll(removeStores);

// A restore and join credentials: revocation is one-way, and credentials never stop existing
// (docs/security.md, "Join credentials"). Each test performs the attack the rule stops.

let t = Date.parse('2026-12-04T12:00:00.000Z');
const clock = () => t;
let n = 0;
const random = (k: number) => Buffer.alloc(k, ++n);

async function setup() {
  const store = await freshStore();
  const credentials = new JoinCredentialStore(store, clock, random);
  return { store, credentials };
}

async function restore(store: Awaited<ReturnType<typeof freshStore>>, snapshot: ReturnType<typeof takeSnapshot>) {
  const verified = verifySnapshots([snapshot]);
  if (!verified.ok) throw new Error(verified.error.message);
  return restoreSnapshots(store, verified, { now: clock });
}

describe('restoreSnapshots and join credentials', () => {
  it('a backup taken before a revoke does not bring the credential back: it stays revoked, at its revocation time', async () => {
    const { store, credentials } = await setup();
    const { record, credential } = await credentials.create('orders', 3_600_000);
    const backup = takeSnapshot(store, { now: clock });
    t += 1000;
    const revokedAt = (await credentials.revoke(record.id))?.revokedAt;
    t += 1000;
    await restore(store, backup);
    expect(credentials.get(record.id)?.revokedAt).toBe(revokedAt);
    expect(credentials.verify(credential)).toMatchObject({ ok: false, reason: 'revoked' });
  });

  it('a backup taken before any credential keeps the newer ones, revoked, not deleted', async () => {
    const { store, credentials } = await setup();
    await store.put('services', ['orders']);
    const backup = takeSnapshot(store, { now: clock });
    const { record, credential } = await credentials.create('orders', 3_600_000);
    t += 1000;
    const done = await restore(store, backup);
    expect(credentials.list().map((r) => r.id)).toEqual([record.id]);
    expect(credentials.get(record.id)?.revokedAt).toBe(t);
    expect(credentials.verify(credential)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(done.deleted).toBe(0);
    // Restoring again changes nothing more: the revocation time is the first one.
    t += 1000;
    expect(await restore(store, backup)).toMatchObject({ written: 0, deleted: 0 });
    expect(credentials.get(record.id)?.revokedAt).toBe(t - 1000);
  });

  it('a credential active now and in the backup stays active; one revoked in the backup is restored revoked', async () => {
    const { store, credentials } = await setup();
    const kept = await credentials.create('orders', 3_600_000);
    const gone = await credentials.create('users', 3_600_000);
    await credentials.revoke(gone.record.id);
    const backup = takeSnapshot(store, { now: clock });
    await restore(store, backup);
    expect(credentials.verify(kept.credential)).toMatchObject({ ok: true });
    expect(credentials.verify(gone.credential)).toMatchObject({ ok: false, reason: 'revoked' });
  });

  it('a credential in the backup but not in the store is restored as the backup has it', async () => {
    const { store, credentials } = await setup();
    const source = await freshStore();
    const { record, credential } = await new JoinCredentialStore(source, clock, random).create('orders', 3_600_000);
    await restore(store, takeSnapshot(source, { now: clock }));
    expect(credentials.get(record.id)).toEqual(record);
    expect(credentials.verify(credential)).toMatchObject({ ok: true });
  });

  it('after such a restore, sendAwayRevoked sends away the agents that joined with a now-revoked credential', async () => {
    const { store, credentials } = await setup();
    const backup = takeSnapshot(store, { now: clock });
    const { record } = await credentials.create('orders', 3_600_000);
    const sent: string[] = [];
    const session = (agentId: string, credentialId?: string) =>
      ({ credentialId, revoked: () => sent.push(agentId) }) as unknown as AgentSession;
    const sessions = new Map([
      ['a', session('a', record.id)],
      ['b', session('b')],
    ]);
    expect(sendAwayRevoked(sessions, credentials)).toBe(0);
    await restore(store, backup);
    expect(sendAwayRevoked(sessions, credentials)).toBe(1);
    expect(sent).toEqual(['a']);
  });
});
