import { createLogger, type Coord } from '@meshlet/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../listener/test-support/loopback.js';
import { CoordClient } from './coord-client.js';
import { CoordStandIn } from './test-support/coord-stand-in.js';

// The client over the stream: ids, answers matched by id, fail fast with no
// stream, the answer timeout, watches sent again on a new stream.

let standIn: CoordStandIn | undefined;
afterEach(() => {
  standIn?.close();
  standIn = undefined;
});

describe('CoordClient', () => {
  it('fails at once with MESHLET_COORDINATION_UNAVAILABLE when no stream is open (never from a cache)', async () => {
    const sent: Coord[] = [];
    const c = new CoordClient({
      send: (m) => (sent.push(m), true),
      clock: Date.now,
      log: createLogger('test', 'silent'),
    });
    const err = await c.request({ op: 'acquire', kind: 'lock', name: 'x', ttlMs: 1000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MESHLET_COORDINATION_UNAVAILABLE', statusCode: 503 });
    expect(String((err as Error).message)).toMatch(/no stream to the control plane/);
    expect(sent).toEqual([]);
  });

  it('matches each answer to its request by id, whatever order they come back in', async () => {
    const sent: Coord[] = [];
    const c = new CoordClient({
      send: (m) => (sent.push(m), true),
      clock: Date.now,
      log: createLogger('test', 'silent'),
    });
    c.connectionChanged(true);
    const a = c.request({ op: 'get', kind: 'lock', name: 'a' });
    const b = c.request({ op: 'get', kind: 'lock', name: 'b' });
    expect(new Set(sent.map((m) => m.id)).size).toBe(2);
    const [ma, mb] = sent as [Coord, Coord];
    const state = (name: string) => ({ kind: 'lock' as const, service: 's', name, revision: 1 });
    c.onMessage({ type: 'coordResult', id: mb.id, ok: true, state: state('b') });
    c.onMessage({ type: 'coordResult', id: ma.id, ok: true, state: state('a') });
    expect((await a).result.state?.name).toBe('a');
    expect((await b).result.state?.name).toBe('b');
  });

  it('gives up after the answer timeout saying the outcome is unknown and that a granted lock lapses with its TTL', async () => {
    const outcomes: string[] = [];
    const c = new CoordClient({
      send: () => true,
      clock: Date.now,
      log: createLogger('test', 'silent'),
      timeoutMs: 50,
      onOutcome: (op, result) => outcomes.push(`${op} ${result}`),
    });
    c.connectionChanged(true);
    const err = await c.request({ op: 'acquire', kind: 'lock', name: 'x', ttlMs: 1000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MESHLET_COORDINATION_UNAVAILABLE', statusCode: 503 });
    expect(outcomes).toEqual(['acquire timeout']);
    expect((err as Error).message).toMatch(
      /did not answer within 50 ms: the outcome .* is unknown; a lock it may have granted lapses with its TTL/,
    );
  });

  it('gives back a grant that lands after the timeout: a release with its token, counted, so the lock is not held by nobody', async () => {
    const sent: Coord[] = [];
    const outcomes: string[] = [];
    const c = new CoordClient({
      send: (m) => (sent.push(m), true),
      clock: Date.now,
      log: createLogger('test', 'silent'),
      timeoutMs: 50,
      onOutcome: (op, result) => outcomes.push(`${op} ${result}`),
    });
    c.connectionChanged(true);
    const acquire = c.request({ op: 'acquire', kind: 'election', name: 'primary', ttlMs: 3000 });
    await expect(acquire).rejects.toMatchObject({ code: 'MESHLET_COORDINATION_UNAVAILABLE' });
    const late = sent[0]!;
    const state = {
      kind: 'election' as const,
      service: 's',
      name: 'primary',
      holder: { agentId: 'a1', instanceId: 'i1' },
      token: 42,
      ttlMs: 3000,
      revision: 42,
    };
    c.onMessage({ type: 'coordResult', id: late.id, ok: true, state, disconnectGraceMs: 3000 });
    expect(sent.slice(1)).toEqual([
      { type: 'coord', id: expect.any(Number), op: 'release', kind: 'election', name: 'primary', token: 42 },
    ]);
    expect(outcomes).toEqual(['acquire timeout', 'acquire late-release']);
    // A late refusal, or a late answer to anything else, is dropped without a release.
    const renew = c.request({ op: 'renew', kind: 'lock', name: 'x', token: 7 });
    await expect(renew).rejects.toMatchObject({ code: 'MESHLET_COORDINATION_UNAVAILABLE' });
    c.onMessage({ type: 'coordResult', id: sent.at(-1)!.id, ok: true, state: { ...state, kind: 'lock', name: 'x' } });
    expect(sent.filter((m) => m.op === 'release')).toHaveLength(1);
    c.close();
  });

  it('fails the requests in flight at once when the stream drops', async () => {
    const c = new CoordClient({ send: () => true, clock: Date.now, log: createLogger('test', 'silent') });
    c.connectionChanged(true);
    const p = c.request({ op: 'renew', kind: 'lock', name: 'x', token: 3 });
    c.connectionChanged(false);
    await expect(p).rejects.toMatchObject({
      code: 'MESHLET_COORDINATION_UNAVAILABLE',
      message: expect.stringMatching(/stream dropped/),
    });
  });

  it('sends its watches again on a new stream (a replica knows nothing of the last one), once per lock', async () => {
    standIn = new CoordStandIn();
    const coordination = standIn.attach('a1');
    const stop1 = coordination.client.watch('lock', 'x');
    const stop2 = coordination.client.watch('lock', 'x');
    await until(() => standIn!.received.length === 1, 'the first watch');
    standIn.drop('a1');
    standIn.connect('a1');
    await until(() => standIn!.received.filter((m) => m.op === 'watch').length === 2, 'the watch sent again');
    stop1();
    expect(standIn.received.filter((m) => m.op === 'unwatch')).toHaveLength(0);
    stop2();
    await until(() => standIn!.received.filter((m) => m.op === 'unwatch').length === 1, 'the unwatch');
  });
});
