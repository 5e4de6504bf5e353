// The paths bench/failover-compare.mjs measures, by name. Each entry starts
// its processes in `ctx` ({ group, dir, log }) and returns the object that
// kill-run.mjs drives: { db, writerOptions(), ready(), kill(node),
// leader(), verify({ before, after, acks, lo, hi }), reset({ before, after }),
// stop() }. Adding a path is adding an entry.
import { patroniPath } from './patroni-path.mjs';
import { sentinelPath } from './sentinel-path.mjs';
import { meshletPath } from './meshlet-path.mjs';

/** Every path, in the order of the report. `baseline` is the one the ratios are taken against. */
export const FAILOVER_PATHS = {
  'meshlet-defaults': {
    label: 'meshlet: agents + control plane, managed failover, defaults',
    start: (ctx) => meshletPath(ctx, 'defaults'),
  },
  'meshlet-tuned': {
    label: 'meshlet, tuned',
    start: (ctx) => meshletPath(ctx, 'tuned'),
  },
  'patroni-defaults': {
    label: 'Patroni + etcd + HAProxy, defaults',
    start: (ctx) => patroniPath(ctx, 'defaults'),
  },
  'patroni-tuned': {
    label: 'Patroni + etcd + HAProxy, tuned',
    baseline: true,
    start: (ctx) => patroniPath(ctx, 'tuned'),
  },
  'sentinel-defaults': {
    label: 'Redis Sentinel, defaults',
    start: (ctx) => sentinelPath(ctx, 'defaults'),
  },
  'sentinel-tuned': {
    label: 'Redis Sentinel, tuned',
    start: (ctx) => sentinelPath(ctx, 'tuned'),
  },
};

/** The path a smoke run measures once: the quickest to start and to fail over. */
export const SMOKE_PATH = 'sentinel-tuned';
