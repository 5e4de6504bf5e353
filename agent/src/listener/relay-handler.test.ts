import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { RelayHandler, type RelayOutcome } from './relay-handler.js';

/** A response that records what it was given. */
function fakeRes() {
  const calls: { status?: number; headers?: string[]; chunks: string[]; ended: boolean } = { chunks: [], ended: false };
  const res = {
    destroyed: false,
    headersSent: false,
    writableFinished: false,
    on: () => res,
    off: () => res,
    writeHead(status: number, headers: string[]) {
      calls.status = status;
      calls.headers = headers;
      res.headersSent = true;
    },
    write(c: Buffer) {
      calls.chunks.push(String(c));
      return true;
    },
    end() {
      calls.ended = true;
    },
    destroy() {
      res.destroyed = true;
    },
  };
  return { res: res as unknown as ServerResponse, calls };
}

const raw = (...kv: string[]) => kv.map((s) => Buffer.from(s, 'latin1'));

describe('RelayHandler', () => {
  it('drops hop-by-hop headers of the answer, and x-meshlet-error when it comes from an app', () => {
    const { res, calls } = fakeRes();
    const outcomes: RelayOutcome[] = [];
    const h = new RelayHandler(res, { fromApp: true }, (o) => outcomes.push(o));
    h.onHeaders(
      200,
      raw(
        'Connection',
        'keep-alive, X-Hop',
        'Keep-Alive',
        'timeout=5',
        'X-Hop',
        '1',
        'Transfer-Encoding',
        'chunked',
        'Content-Type',
        'application/json',
        'Set-Cookie',
        'a=1',
        'Set-Cookie',
        'b=2',
        'x-meshlet-error',
        'MESHLET_APP_RESET',
      ),
      () => undefined,
    );
    h.onData(Buffer.from('{}'));
    h.onComplete();
    expect(calls).toEqual({
      status: 200,
      headers: ['Content-Type', 'application/json', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'],
      chunks: ['{}'],
      ended: true,
    });
    expect(outcomes).toEqual([{ kind: 'relayed', status: 200 }]);
  });

  it('still reports the attempt when ending the answer threw and undici reports the error', () => {
    // Review round 2: a guard on "finished" ignored this onError, and the attempt never ended (its endpoint's active
    // count and the breaker's slot were held for good).
    const { res } = fakeRes();
    (res as unknown as { end: () => void }).end = () => {
      throw new Error('write after end');
    };
    const outcomes: RelayOutcome[] = [];
    const h = new RelayHandler(res, { fromApp: false }, (o) => outcomes.push(o));
    h.onHeaders(200, raw('Content-Length', '0'), () => undefined);
    expect(() => h.onComplete()).toThrow('write after end');
    h.onError(new Error('write after end'));
    expect(outcomes).toHaveLength(1);
  });

  it('keeps x-meshlet-error from a peer agent and lets the caller decline the answer for a retry', () => {
    const { res, calls } = fakeRes();
    const outcomes: RelayOutcome[] = [];
    const seen: Array<[number, string | undefined]> = [];
    const h = new RelayHandler(res, { fromApp: false, accept: (s, p) => (seen.push([s, p]), false) }, (o) =>
      outcomes.push(o),
    );
    h.onHeaders(502, raw('x-meshlet-error', 'MESHLET_APP_UNREACHABLE'), () => undefined);
    h.onData(Buffer.from('dropped'));
    h.onComplete();
    expect(seen).toEqual([[502, 'MESHLET_APP_UNREACHABLE']]);
    expect(calls).toEqual({ chunks: [], ended: false });
    expect(outcomes).toEqual([{ kind: 'declined', status: 502, peerError: 'MESHLET_APP_UNREACHABLE' }]);
  });

  it('reports a failure before the answer, and cuts the client off after it', () => {
    const before = fakeRes();
    const outcomes: RelayOutcome[] = [];
    new RelayHandler(before.res, { fromApp: false }, (o) => outcomes.push(o)).onError(
      Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
    );
    expect(outcomes[0]).toMatchObject({ kind: 'failed', headersSent: false });

    const after = fakeRes();
    const h = new RelayHandler(after.res, { fromApp: false }, (o) => outcomes.push(o));
    h.onHeaders(200, raw('Content-Length', '10'), () => undefined);
    h.onError(new Error('reset mid-body'));
    expect(after.res.destroyed).toBe(true);
    expect(outcomes[1]).toEqual({ kind: 'relayed', status: 200 });
  });

  it('drops what every Connection header of the answer names, not only the last one', () => {
    const { res, calls } = fakeRes();
    const h = new RelayHandler(res, { fromApp: true }, () => undefined);
    h.onHeaders(
      200,
      raw('Connection', 'x-secret', 'X-Secret', 's3cret', 'Connection', 'keep-alive', 'ETag', '"1"'),
      () => undefined,
    );
    expect(calls.headers).toEqual(['ETag', '"1"']);
  });

  it('reports an attempt once, even when undici reports an error after the end', () => {
    // done() releases the endpoint's active count and counts the inbound request: twice would skew both.
    const { res } = fakeRes();
    const outcomes: RelayOutcome[] = [];
    const h = new RelayHandler(res, { fromApp: false }, (o) => outcomes.push(o));
    h.onHeaders(200, raw('Content-Length', '0'), () => undefined);
    h.onComplete();
    h.onError(new Error('late error'));
    h.onComplete();
    expect(outcomes).toEqual([{ kind: 'relayed', status: 200 }]);
  });
});
