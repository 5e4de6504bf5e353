import { systemClock } from '@meshlet/shared';
import type { IOptions } from 'etcd3';
import type { EtcdStoreOptions } from './etcd-store.js';
import { WATCH_BACKOFF, WatchBackoff } from './watch-backoff.js';

/** The largest answer taken from etcd: above etcd's own request limit (`--max-request-bytes`, 1.5 MiB by default; deploy/ha raises it to 8 MiB) and any listing of the prefix. */
const MAX_RECEIVE_BYTES = 256 * 1024 * 1024;

/**
 * How long the etcd client waits before it dials a member again: grpc-js's
 * defaults start at 1 s and grow to 120 s, so a replica cut off from etcd
 * for a few minutes would stay cut off about that long after the network
 * came back.
 */
export const RECONNECT_GRPC_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1_000,
} as const;

/** The options of the store's etcd client (`new Etcd3(...)`), for the members at `endpoints`. */
export function etcdClientOptions(endpoints: string[], requestTimeoutMs: number, options: EtcdStoreOptions): IOptions {
  // etcd3 tries a call up to three times, each on another member; an
  // attempt on a member that just died can hang until its deadline, so each
  // attempt gets a third of the budget and the next member a chance. The
  // store bounds the whole call.
  const attemptMs = Math.ceil(requestTimeoutMs / 3);
  return {
    hosts: endpoints,
    dialTimeout: options.dialTimeoutMs ?? 3_000,
    // gRPC refuses answers above 4 MiB by default; the routing table (one value) and a listing of the prefix can be larger.
    // Keep-alive pings find a connection to a member that vanished (a host gone, a network cut) that would otherwise stay open and silent.
    grpcOptions: {
      'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      ...RECONNECT_GRPC_OPTIONS,
    },
    // Bounded, so that a replica back from a long cut resumes its watch within about a second (see WatchBackoff).
    faultHandling: { watchBackoff: new WatchBackoff({ ...WATCH_BACKOFF, random: options.random ?? Math.random }) },
    // A gRPC deadline is a wall-clock time: always the system clock, never a test's.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: systemClock() + attemptMs }),
    // grpc-js takes null for "the system's roots"; etcd3's type asks for a Buffer.
    ...(options.tls
      ? {
          credentials: {
            rootCertificate: options.tls.ca ?? (null as unknown as Buffer),
            privateKey: options.tls.key,
            certChain: options.tls.cert,
          },
        }
      : {}),
    ...(options.auth ? { auth: options.auth } : {}),
  };
}
