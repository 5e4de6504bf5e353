import { createLogger, type Routes, type ServiceRoutes } from '@meshlet/shared';
import { afterEach, beforeEach, vi } from 'vitest';
import { MemoryStore } from '../../store/test-support/memory-store.js';
import { type Convergence, Pusher, type PusherOptions } from '../pusher.js';
import { ep } from './table-sinks.js';

/** A table as the leader publishes it. */
export const leaderTable = (version: number, services: Record<string, ServiceRoutes>, nonce = `leader-${version}`) => ({
  version,
  nonce,
  services: structuredClone(services),
});

/** What a test of a follower's pusher sets and reads; reset before each test. */
export interface FollowerFixture {
  /** The pusher's clock. */
  now: number;
  /** What `build` returns (a copy): services a, b and c, one endpoint each. */
  services: Record<string, ServiceRoutes>;
  build: ReturnType<typeof vi.fn<PusherOptions['build']>>;
  store: MemoryStore;
  /** Every version the pusher announced, its tables and convergences. */
  versions: number[];
  tables: Routes[];
  converged: Convergence[];
  /** A pusher that follows from the start, as a replica's does before it learns its role; closed after the test. */
  follower(o?: Partial<PusherOptions>): Pusher;
}

/** Registers fake timers and a fresh {@link FollowerFixture} for each test of the calling `describe`. */
export function useFollower(): FollowerFixture {
  const pushers: Pusher[] = [];
  let nonces = 0;
  const fx = {
    follower: (o: Partial<PusherOptions> = {}) => {
      const p = new Pusher({
        build: fx.build,
        store: fx.store,
        log: createLogger('test', 'silent'),
        clock: () => fx.now,
        nonce: () => `own-${++nonces}`,
        debounceMs: 10,
        maxDelayMs: 50,
        startupGraceMs: 0,
        onVersion: (v) => fx.versions.push(v),
        onTable: (t) => fx.tables.push(structuredClone(t)),
        onConverged: (c) => fx.converged.push(c),
        ...o,
      });
      pushers.push(p);
      p.setBuilding(false);
      return p;
    },
  } as FollowerFixture;
  beforeEach(() => {
    vi.useFakeTimers();
    fx.now = 1_000;
    fx.services = { a: { endpoints: [ep('a-1')] }, b: { endpoints: [ep('b-1')] }, c: { endpoints: [ep('c-1')] } };
    fx.build = vi.fn<PusherOptions['build']>(() => structuredClone(fx.services));
    fx.store = new MemoryStore();
    fx.versions = [];
    fx.tables = [];
    fx.converged = [];
    nonces = 0;
  });
  afterEach(() => {
    for (const p of pushers.splice(0)) p.close();
    vi.useRealTimers();
  });
  return fx;
}
