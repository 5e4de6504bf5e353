import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@meshlet/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlPlaneErrorCodes } from '../errors.js';
import { MemoryStore } from '../store/test-support/memory-store.js';
import { CaRotation } from './ca-rotation.js';
import { CertificateAuthority } from './certificate-authority.js';
import type { AgentProgress } from './rotation-progress.js';
import { StateKey } from './state-key.js';
import { CA_STATE_KEY } from './stored-ca-state.js';
import { makeRequest, opensslVerify } from './test-support/requests.js';

const log = createLogger('test', 'silent');
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshlet-rotation-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const agent = (agentId: string, trustGeneration?: number, certificateIssuer?: string): AgentProgress => ({
  agentId,
  connected: true,
  trustGeneration,
  certificateIssuer,
  certificate: undefined,
  replica: undefined,
  instance: undefined,
});

async function openBoth(store: MemoryStore, key: StateKey) {
  const ca = await CertificateAuthority.open({ source: { kind: 'generated', dir: join(dir, 'ca') }, clock: Date.now });
  const rotation = await CaRotation.open({ ca, store, clock: Date.now, log, stateKey: async () => key });
  return { ca, rotation };
}

describe('CaRotation', () => {
  it('adds the new root, switches the issuer, removes the old root: each step only on proof from every agent', async () => {
    const store = new MemoryStore();
    const key = StateKey.ephemeral();
    const { ca, rotation } = await openBoth(store, key);
    const oldRoot = ca.trustBundle()[0] as string;
    const oldIssuer = ca.activeIssuerFingerprint;
    expect(rotation.trust().generation).toBe(0);

    const started = await rotation.start('ops');
    expect(started.step).toBe('adding-root');
    expect(ca.trustBundle()).toHaveLength(2);
    expect(ca.trustBundle()[0]).toBe(oldRoot);
    expect(ca.knownIssuers()).toHaveLength(2);
    // Still signing with the old issuer: not every agent holds the new root yet.
    expect(ca.activeIssuerFingerprint).toBe(oldIssuer);
    await expect(rotation.start()).rejects.toMatchObject({ code: ControlPlaneErrorCodes.CONFLICT });

    const a = agent('a', 1, oldIssuer);
    const b = agent('b', 0, oldIssuer);
    expect(await rotation.advance([a, b])).toBe('adding-root');
    b.trustGeneration = 1;
    // A disconnected agent is not waited for.
    expect(await rotation.advance([a, b, { ...agent('gone', 0), connected: false }])).toBe('switching-issuer');
    const newIssuer = ca.activeIssuerFingerprint;
    expect(newIssuer).not.toBe(oldIssuer);
    expect(rotation.trust()).toMatchObject({ generation: 2, activeIssuer: newIssuer });

    // A leaf from the new issuer verifies against the bundle of this step.
    const issued = await ca.sign((await makeRequest()).pem, { service: 'orders', instanceId: 'orders-1' });
    expect(issued.issuerFingerprint).toBe(newIssuer);
    const verified = await opensslVerify(dir, {
      roots: ca.trustBundle(),
      chain: issued.chainPem,
      leaf: issued.certificatePem,
    });
    expect(verified.ok).toBe(true);

    a.trustGeneration = 2;
    b.trustGeneration = 2;
    expect(await rotation.advance([a, b])).toBe('switching-issuer');
    a.certificateIssuer = newIssuer;
    expect(await rotation.advance([a, b])).toBe('switching-issuer');
    b.certificateIssuer = newIssuer;
    expect(await rotation.advance([a, b])).toBe('removing-root');
    expect(ca.trustBundle()).toHaveLength(1);
    expect(ca.trustBundle()[0]).not.toBe(oldRoot);
    expect(ca.knownIssuers()).toHaveLength(1);

    expect(await rotation.advance([a, b])).toBe('removing-root');
    a.trustGeneration = 3;
    b.trustGeneration = 3;
    expect(await rotation.advance([a, b])).toBe('done');
    expect(rotation.state).toMatchObject({ step: 'done', startedBy: 'ops', generation: 3 });
  });

  it('is taken up by a restarted control plane from the store: the CA signs as the rotation left it', async () => {
    const store = new MemoryStore();
    const key = StateKey.ephemeral();
    const first = await openBoth(store, key);
    await first.rotation.start();
    await first.rotation.advance([]);
    const issuer = first.ca.activeIssuerFingerprint;

    const again = await openBoth(store, key);
    expect(again.rotation.state?.step).toBe('switching-issuer');
    expect(again.ca.activeIssuerFingerprint).toBe(issuer);
    expect(again.ca.trustBundle()).toEqual(first.ca.trustBundle());
    // And goes on from there.
    expect(await again.rotation.advance([])).toBe('removing-root');
  });

  it('refuses to open a state sealed with another state key, naming the setting', async () => {
    const store = new MemoryStore();
    const first = await openBoth(store, StateKey.ephemeral());
    await first.rotation.start();
    await expect(openBoth(store, StateKey.ephemeral())).rejects.toThrow(/identity\.ca\.stateKeyFile/);
  });

  it('keeps the stored issuer key sealed: the store holds no private key in clear', async () => {
    const store = new MemoryStore();
    const { rotation } = await openBoth(store, StateKey.ephemeral());
    await rotation.start();
    const text = JSON.stringify(store.get(CA_STATE_KEY));
    expect(text).not.toContain('PRIVATE KEY');
  });

  it('follows a step written through another replica', async () => {
    const store = new MemoryStore();
    const key = StateKey.ephemeral();
    const leader = await openBoth(store, key);
    const follower = await openBoth(store, key);
    await leader.rotation.start();
    await follower.rotation.follow();
    expect(follower.ca.trustBundle()).toEqual(leader.ca.trustBundle());
    await leader.rotation.advance([]);
    await follower.rotation.follow();
    expect(follower.ca.activeIssuerFingerprint).toBe(leader.ca.activeIssuerFingerprint);
    // A step the follower tries on the state it held is refused: the leader moved first.
    await expect(follower.rotation.start()).rejects.toMatchObject({ code: ControlPlaneErrorCodes.CONFLICT });
  });

  it('attack: a root added to the stored state by someone without the state key is refused, not pushed to agents', async () => {
    const store = new MemoryStore();
    const key = StateKey.ephemeral();
    const first = await openBoth(store, key);
    await first.rotation.start();
    const stored = store.get<Record<string, unknown>>(CA_STATE_KEY) as { roots: string[] };
    const foreign = await CertificateAuthority.open({ source: { kind: 'memory' }, clock: Date.now });
    await store.put(CA_STATE_KEY, { ...stored, roots: [...stored.roots, foreign.trustBundle()[0]] });
    await expect(first.rotation.follow()).rejects.toThrow(/does not match its seal/);
    // The CA kept what it held.
    expect(first.ca.trustBundle()).toEqual(stored.roots);
  });

  it('opens after the source issuer expired, when a rotation in the store replaced it', async () => {
    const store = new MemoryStore();
    const key = StateKey.ephemeral();
    const month = 30 * 24 * 3600_000;
    const t0 = Date.now();
    let now = t0;
    const clock = () => now;
    const source = { kind: 'generated' as const, dir: join(dir, 'ca') };
    const ca = await CertificateAuthority.open({ source, clock });
    const rotation = await CaRotation.open({ ca, store, clock, log, stateKey: async () => key });
    now = t0 + 11 * month;
    await rotation.start();
    for (let i = 0; i < 3; i++) await rotation.advance([]);
    expect(rotation.state?.step).toBe('done');

    now = t0 + 13 * month; // the generated issuer (one year) has expired; the rotated one has not
    await expect(CertificateAuthority.open({ source, clock })).rejects.toThrow(/valid only from/);
    const again = await CertificateAuthority.open({ source, clock, superseded: true });
    await CaRotation.open({ ca: again, store, clock, log, stateKey: async () => key });
    const issued = await again.sign((await makeRequest()).pem, { service: 'orders', instanceId: 'orders-1' });
    expect(issued.notAfter.getTime()).toBeGreaterThan(now);
  });

  it('attack: an older genuine state written back (a replay from a backup or etcd history) is refused', async () => {
    const store = new MemoryStore();
    const key = StateKey.ephemeral();
    const { ca, rotation } = await openBoth(store, key);
    await rotation.start();
    const old = store.get<unknown>(CA_STATE_KEY);
    for (let i = 0; i < 3; i++) await rotation.advance([]);
    const roots = ca.trustBundle();
    await store.put(CA_STATE_KEY, old);
    await expect(rotation.follow()).rejects.toThrow(/went back from generation 3 to 1/);
    expect(ca.trustBundle()).toEqual(roots);
    expect(rotation.state?.step).toBe('done');
  });
});
