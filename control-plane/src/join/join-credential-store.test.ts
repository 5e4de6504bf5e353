import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStore } from '../store/file-store.js';
import { JOIN_CREDENTIAL_PREFIX, JoinCredentialStore } from './join-credential-store.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
async function fileStore(): Promise<{ store: FileStore; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-join-'));
  dirs.push(dir);
  const store = new FileStore(dir);
  await store.open();
  return { store, dir };
}
const HOUR = 3_600_000;

describe('JoinCredentialStore', () => {
  it('mints mjc_<id>_<secret> and keeps only the SHA-256 of the secret', async () => {
    const { store, dir } = await fileStore();
    const creds = new JoinCredentialStore(store, () => 1_000);
    const { record, credential } = await creds.create('orders', 720 * HOUR);
    const m = /^mjc_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(credential);
    expect(m?.[1]).toBe(record.id);
    const secret = m?.[2] ?? '';
    expect(record).toMatchObject({ service: 'orders', createdAt: 1_000, expiresAt: 1_000 + 720 * HOUR });
    expect(record.secretSha256).toBe(createHash('sha256').update(secret).digest('hex'));
    await store.close();
    // Neither the secret nor the whole credential is anywhere in the data directory.
    for (const f of readdirSync(dir)) {
      const text = readFileSync(join(dir, f), 'utf8');
      expect(text).not.toContain(secret);
    }
    expect(store.get(JOIN_CREDENTIAL_PREFIX + record.id)).toEqual(record);
  });

  it('admits the right secret only, and looks the record up by the id in the credential', async () => {
    const { store } = await fileStore();
    const creds = new JoinCredentialStore(store, () => 0);
    const a = await creds.create('orders', HOUR);
    const b = await creds.create('users', HOUR);
    expect(creds.verify(a.credential)).toMatchObject({ ok: true, credential: { service: 'orders' } });
    expect(creds.verify(b.credential)).toMatchObject({ ok: true, credential: { service: 'users' } });
    // a's id with b's secret: the id finds a, whose hash does not match.
    const swapped = `mjc_${a.record.id}_${b.credential.split('_').slice(2).join('_')}`;
    expect(creds.verify(swapped)).toEqual({ ok: false, reason: 'unknown', id: a.record.id });
    expect(creds.verify(`mjc_0123456789abcdef_${'A'.repeat(43)}`)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(creds.verify('mjc_nope')).toEqual({ ok: false, reason: 'malformed' });
    expect(creds.verify(a.credential + 'x')).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses a credential from its expiry on (fake clock)', async () => {
    const { store } = await fileStore();
    let now = 10_000;
    const creds = new JoinCredentialStore(store, () => now);
    const { record, credential } = await creds.create('orders', 30 * 60_000);
    now += 30 * 60_000 - 1;
    expect(creds.verify(credential).ok).toBe(true);
    expect(creds.stateOf(record)).toBe('active');
    now += 1;
    expect(creds.verify(credential)).toEqual({ ok: false, reason: 'expired', id: record.id });
    expect(creds.view(record).state).toBe('expired');
  });

  it('revokes: the credential is refused and listed as revoked, at its first revocation time', async () => {
    const { store } = await fileStore();
    let now = 0;
    const creds = new JoinCredentialStore(store, () => now);
    const { record, credential } = await creds.create('orders', HOUR);
    now = 5;
    expect((await creds.revoke(record.id))?.revokedAt).toBe(5);
    now = 9;
    expect((await creds.revoke(record.id))?.revokedAt).toBe(5);
    expect(await creds.revoke('ffffffffffffffff')).toBeUndefined();
    expect(creds.verify(credential)).toEqual({ ok: false, reason: 'revoked', id: record.id });
    expect(creds.list().map((r) => creds.view(r))).toEqual([
      {
        id: record.id,
        service: 'orders',
        createdAt: new Date(0).toISOString(),
        expiresAt: new Date(HOUR).toISOString(),
        revokedAt: new Date(5).toISOString(),
        state: 'revoked',
      },
    ]);
  });

  it('survives a restart of the file store', async () => {
    const { store, dir } = await fileStore();
    const creds = new JoinCredentialStore(store, () => 0);
    const { credential } = await creds.create('orders', HOUR);
    await store.close();
    const again = new FileStore(dir);
    await again.open();
    expect(new JoinCredentialStore(again, () => 0).verify(credential).ok).toBe(true);
    await again.close();
  });
});
