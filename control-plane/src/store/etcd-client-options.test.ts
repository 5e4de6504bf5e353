import { describe, expect, it } from 'vitest';
import { etcdClientOptions } from './etcd-client-options.js';

// A replica cut off from etcd for a minute (test/chaos/partition-replica.test.ts, MESHLET_CHAOS_LONG=1) took
// 18-37 s after the heal to follow again and see the writes it missed: the etcd3 client's watch backoff had
// grown to its default cap of 30 s, and grpc-js's dial backoff grows to 120 s. Both are bounded now.
describe('etcdClientOptions: a replica back from a long cut from etcd resumes within about a second', () => {
  const options = etcdClientOptions(['http://127.0.0.1:2379'], 3_000, { endpoints: [], random: () => 0.999 });

  it('bounds the watch backoff at a second however many attempts failed', () => {
    let b = options.faultHandling?.watchBackoff;
    expect(b, 'a watch backoff of the store (etcd3 default: up to 30 s)').toBeDefined();
    let max = 0;
    for (let i = 0; i < 200 && b; i++) {
      max = Math.max(max, b.duration);
      b = b.next(undefined as never);
    }
    expect(max).toBeLessThanOrEqual(1_000);
  });

  it('bounds the gRPC dial backoff at a second', () => {
    expect(options.grpcOptions?.['grpc.max_reconnect_backoff_ms']).toBeLessThanOrEqual(1_000);
    expect(options.grpcOptions?.['grpc.initial_reconnect_backoff_ms']).toBeLessThanOrEqual(1_000);
  });

  it('keeps the keep-alive and the large answers', () => {
    expect(options.grpcOptions?.['grpc.keepalive_time_ms']).toBe(10_000);
    expect(options.grpcOptions?.['grpc.max_receive_message_length']).toBe(256 * 1024 * 1024);
  });
});
