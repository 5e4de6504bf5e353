// The paths bench/failover-compare.mjs measures, by name. Each entry starts
// its processes in `ctx` ({ group, dir, log }) and returns the object that
// kill-run.mjs drives: { db, writerOptions(), ready(), kill(node),
// leader(), verify({ before, after, acks, lo, hi }), reset({ before, after }),
// stop() }. Adding a path is adding an entry.
import { patroniPath } from './patroni-path.mjs';
import { sentinelPath } from './sentinel-path.mjs';
import { meshletPath } from './meshlet-path.mjs';
import { meshletRedisPath } from './meshlet-redis-path.mjs';

/**
 * Every path, in the order of the report. `db` is the database; `baseline`
 * marks, for each database, the path the ratios of that database's paths are
 * taken against (PostgreSQL: tuned Patroni + HAProxy; Redis: tuned Sentinel).
 */
export const FAILOVER_PATHS = {
  'meshlet-defaults': {
    label: 'meshlet: agents + control plane, managed failover, defaults',
    db: 'postgres',
    start: (ctx) => meshletPath(ctx, 'defaults'),
  },
  'meshlet-tuned': {
    label: 'meshlet, tuned',
    db: 'postgres',
    start: (ctx) => meshletPath(ctx, 'tuned'),
  },
  'patroni-defaults': {
    label: 'Patroni + etcd + HAProxy, defaults',
    db: 'postgres',
    start: (ctx) => patroniPath(ctx, 'defaults'),
  },
  'patroni-tuned': {
    label: 'Patroni + etcd + HAProxy, tuned',
    db: 'postgres',
    baseline: true,
    start: (ctx) => patroniPath(ctx, 'tuned'),
  },
  'meshlet-redis-defaults': {
    label: 'meshlet: Redis, agents + control plane, managed failover, defaults',
    db: 'redis',
    start: (ctx) => meshletRedisPath(ctx, 'defaults'),
  },
  'meshlet-redis-tuned': {
    label: 'meshlet: Redis, tuned',
    db: 'redis',
    start: (ctx) => meshletRedisPath(ctx, 'tuned'),
  },
  'sentinel-defaults': {
    label: 'Redis Sentinel, defaults',
    db: 'redis',
    start: (ctx) => sentinelPath(ctx, 'defaults'),
  },
  'sentinel-tuned': {
    label: 'Redis Sentinel, tuned',
    db: 'redis',
    baseline: true,
    start: (ctx) => sentinelPath(ctx, 'tuned'),
  },
};

/** The path a smoke run measures once: the quickest to start and to fail over. */
export const SMOKE_PATH = 'sentinel-tuned';
