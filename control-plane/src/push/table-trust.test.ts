import { createLogger, type ServiceRoutes, type TrustBundle } from '@meshlet/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../store/test-support/memory-store.js';
import { Pusher } from './pusher.js';
import { ep, sink } from './test-support/table-sinks.js';

// The trust bundle rides the routing table: in every full table, in a delta
// only when it changed since the agent's base, and an ACK of the table that
// carried it is the proof a root rotation waits for.

const bundle = (generation: number): TrustBundle => ({
  generation,
  rootsPem: `roots-${generation}`,
  issuersPem: `issuers-${generation}`,
  activeIssuer: generation.toString(16).padStart(32, '0'),
});

function pusherWith(trust: { now: TrustBundle }, acked: string[] = []): Pusher {
  const services: Record<string, ServiceRoutes> = { a: { endpoints: [ep('a-1')] } };
  return new Pusher({
    build: () => structuredClone(services),
    store: new MemoryStore(),
    log: createLogger('test', 'silent'),
    clock: () => 1000,
    nonce: () => 'n',
    debounceMs: 0,
    maxDelayMs: 0,
    startupGraceMs: 0,
    trust: () => trust.now,
    onTrustAcked: (s) => acked.push(`${s.record.agentId}@${s.record.trustGeneration}`),
  });
}

let open: Pusher | undefined;
afterEach(() => open?.close());

describe('Pusher, trust bundle', () => {
  it('sends the bundle in the first full table and again only when it changes', () => {
    const trust = { now: bundle(0) };
    const p = (open = pusherWith(trust));
    const x = sink('x');
    p.add(x, 0);
    p.flush();
    expect(x.sent[0]?.trust).toEqual(bundle(0));
    expect(JSON.parse(x.texts[0] as string).trust).toEqual(bundle(0));

    // A change of services alone: the delta carries no bundle.
    p.schedule();
    p.flush();
    expect(x.sent).toHaveLength(1);

    // The bundle changes: a new version whose delta holds the bundle and no service.
    trust.now = bundle(1);
    p.flush();
    expect(x.sent[1]).toEqual({
      type: 'routes',
      version: 2,
      nonce: 'n',
      baseVersion: 1,
      services: {},
      trust: bundle(1),
    });
    expect(p.current?.trust).toEqual(bundle(1));
  });

  it('records the generation an agent ACKed, only once it ACKed the table that carried it', () => {
    const trust = { now: bundle(0) };
    const acked: string[] = [];
    const p = (open = pusherWith(trust, acked));
    const x = sink('x');
    p.add(x, 0);
    p.flush();
    trust.now = bundle(1);
    p.flush();
    expect(x.record.trustGeneration).toBeUndefined();
    // The ACK of the first table proves nothing of the bundle sent since (only the last one sent is followed).
    p.ack(x, 1);
    expect(x.record.trustGeneration).toBeUndefined();
    p.ack(x, 2);
    expect(x.record.trustGeneration).toBe(1);
    expect(acked).toEqual(['x@1']);
  });

  it('sends the bundle again after a NACK: the agent may not hold it', () => {
    const trust = { now: bundle(0) };
    const p = (open = pusherWith(trust));
    const x = sink('x');
    p.add(x, 0);
    p.flush();
    trust.now = bundle(1);
    p.flush();
    p.nack(x, 2, undefined);
    trust.now = bundle(2);
    p.flush();
    expect(x.sent[2]?.baseVersion).toBeUndefined();
    expect(x.sent[2]?.trust).toEqual(bundle(2));
    p.ack(x, 3);
    expect(x.record.trustGeneration).toBe(2);
  });

  it('passes the bundle of a table taken from the leader on to its agents', () => {
    const trust = { now: bundle(0) };
    const p = (open = pusherWith(trust));
    p.setBuilding(false);
    const x = sink('x');
    p.add(x, 0);
    p.takeTable({ version: 7, nonce: 'leader', services: {}, trust: bundle(4) });
    expect(x.sent[0]?.trust).toEqual(bundle(4));
    p.ack(x, 7);
    expect(x.record.trustGeneration).toBe(4);
  });
});
