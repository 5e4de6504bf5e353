import { describe, expect, it } from 'vitest';
import type { EtcdStore } from '../store/etcd-store.js';
import { EtcdLockBackend } from './etcd-lock-backend.js';
import type { LockChange, LockRecord } from './lock-backend.js';

// The etcd backend over a stand-in for the store and its etcd client, for what a real etcd cannot be made to do on
// cue: answer late, or never. test/coordination/etcd-lock-backend.test.ts runs it against a real etcd.

const REC: LockRecord = { holder: { agentId: 'a1', instanceId: 'a1-i' }, ttlMs: 5_000, releaseOnUnhealthy: true };

/** A deferred promise a test settles by hand. */
function later<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function fakeStore(o: { values?: Record<string, unknown>; revisions?: Record<string, number> } = {}) {
  const calls = { revoked: [] as string[], streamsEnded: 0, streamsOpened: 0 };
  const txn = later<number | undefined>();
  let listener: (key: string, revision: number) => void = () => undefined;
  const store = {
    requestTimeoutMs: 40,
    prefix: '/m/',
    get: (k: string) => o.values?.[k],
    modRevision: (k: string) => o.revisions?.[k],
    revision: () => 100,
    keys: () => [],
    onChange: (l: typeof listener) => {
      listener = l;
      return () => undefined;
    },
    createLeased: () => txn.promise,
    client: {
      get: () => ({ exec: () => new Promise(() => undefined) }),
      leaseClient: {
        leaseGrant: async () => ({ ID: '7' }),
        leaseRevoke: async ({ ID }: { ID: string }) => void calls.revoked.push(ID),
        leaseKeepAlive: async () => {
          calls.streamsOpened++;
          // A stream etcd never answers on (no quorum).
          return { on: () => undefined, write: () => undefined, end: () => void calls.streamsEnded++ };
        },
      },
    },
  } as unknown as EtcdStore;
  return { store, calls, txn, fire: (key: string, revision: number) => listener(key, revision) };
}

describe('EtcdLockBackend (stand-in etcd)', () => {
  it("attack: a watch that lags announces a free lock at the deletion's own revision, not the store's newest", async () => {
    const { store, fire } = fakeStore();
    const backend = new EtcdLockBackend({ store });
    await backend.open();
    const changes: LockChange[] = [];
    backend.onChange((c) => changes.push(c));
    // The deletion was at 42; the store has seen 100 since (a later acquire's token, say).
    fire('coord/lock/s/n', 42);
    expect(changes).toEqual([{ key: 'coord/lock/s/n', now: undefined, revision: 42 }]);
  });

  it('attack: etcd answering an acquire slowly: it fails within one deadline, and the lease of a late grant is revoked', async () => {
    const { store, calls, txn } = fakeStore();
    const backend = new EtcdLockBackend({ store, acquireDeadlineMs: 30 });
    await expect(backend.acquire('coord/lock/s/n', REC)).rejects.toMatchObject({ code: 'MESHLET_STORE_UNAVAILABLE' });
    expect(calls.revoked).toEqual([]);
    txn.resolve(9); // the transaction commits after the control plane gave up: its lease must go
    await new Promise((r) => setImmediate(r));
    expect(calls.revoked).toEqual(['7']);
  });

  it('attack: renewals while etcd has no quorum leave no keep-alive stream open', async () => {
    const key = 'coord/lock/s/n';
    const { store, calls } = fakeStore({ values: { [key]: { ...REC, lease: '7' } }, revisions: { [key]: 5 } });
    const backend = new EtcdLockBackend({ store });
    for (let i = 0; i < 3; i++)
      await expect(backend.renew(key, 5, 5_000)).rejects.toMatchObject({ code: 'MESHLET_STORE_UNAVAILABLE' });
    expect(calls.streamsOpened).toBe(3);
    expect(calls.streamsEnded).toBe(3);
  });
});
