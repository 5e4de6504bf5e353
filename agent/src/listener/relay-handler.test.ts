import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { RelayHandler, type RelayOutcome, rawUpstreamHeaders } from './relay-handler.js';

const HOP_BY_HOP = ['Connection', 'Keep-Alive', 'Proxy-Connection', 'Proxy-Authenticate', 'Proxy-Authorization', 'TE', 'Trailer', 'Transfer-Encoding', 'Upgrade', 'Expect'];
const req = (raw: string[]) => ({ rawHeaders: raw }) as unknown as IncomingMessage;

describe('rawUpstreamHeaders', () => {
  it.each(HOP_BY_HOP)('drops %s', (name) => {
    expect([...rawUpstreamHeaders(req([name, 'v', 'Accept', 'text/plain']), 'orders')]).toEqual(['Accept', 'text/plain', 'host', 'orders']);
  });

  it('drops headers named in Connection whatever their case and spacing', () => {
    const out = rawUpstreamHeaders(req(['Connection', 'Keep-Alive ,  X-Hop-One,x-hop-two', 'X-Hop-One', '1', 'x-hop-two', '2', 'X-End-To-End', '3']), 'orders');
    expect([...out]).toEqual(['X-End-To-End', '3', 'host', 'orders']);
  });

  it('keeps end-to-end headers, repeated ones included, and replaces Host with the service name', () => {
    const out = rawUpstreamHeaders(req(['Host', '127.0.0.1:15001', 'Authorization', 'Bearer t', 'Cookie', 'a=1', 'X-List', 'a', 'X-List', 'b']), 'orders');
    expect([...out]).toEqual(['Authorization', 'Bearer t', 'Cookie', 'a=1', 'X-List', 'a', 'X-List', 'b', 'host', 'orders']);
  });

  it('keeps the original Host when no service is given', () => {
    expect([...rawUpstreamHeaders(req(['Host', 'orders:15006']))]).toEqual(['Host', 'orders:15006']);
  });

  it('says whether the request has a body', () => {
    expect(rawUpstreamHeaders(req([])).hasBody).toBeUndefined();
    expect(rawUpstreamHeaders(req(['Content-Length', '0'])).hasBody).toBeUndefined();
    expect(rawUpstreamHeaders(req(['Content-Length', '3'])).hasBody).toBe(true);
    expect(rawUpstreamHeaders(req(['Transfer-Encoding', 'chunked'])).hasBody).toBe(true);
  });
});

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
    h.onHeaders(200, raw('Connection', 'keep-alive, X-Hop', 'Keep-Alive', 'timeout=5', 'X-Hop', '1', 'Transfer-Encoding', 'chunked', 'Content-Type', 'application/json', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'x-meshlet-error', 'MESHLET_APP_RESET'), () => undefined);
    h.onData(Buffer.from('{}'));
    h.onComplete();
    expect(calls).toEqual({ status: 200, headers: ['Content-Type', 'application/json', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'], chunks: ['{}'], ended: true });
    expect(outcomes).toEqual([{ kind: 'relayed', status: 200 }]);
  });

  it('keeps x-meshlet-error from a peer agent and lets the caller decline the answer for a retry', () => {
    const { res, calls } = fakeRes();
    const outcomes: RelayOutcome[] = [];
    const seen: Array<[number, string | undefined]> = [];
    const h = new RelayHandler(res, { fromApp: false, accept: (s, p) => (seen.push([s, p]), false) }, (o) => outcomes.push(o));
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
    new RelayHandler(before.res, { fromApp: false }, (o) => outcomes.push(o)).onError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }));
    expect(outcomes[0]).toMatchObject({ kind: 'failed', headersSent: false });

    const after = fakeRes();
    const h = new RelayHandler(after.res, { fromApp: false }, (o) => outcomes.push(o));
    h.onHeaders(200, raw('Content-Length', '10'), () => undefined);
    h.onError(new Error('reset mid-body'));
    expect(after.res.destroyed).toBe(true);
    expect(outcomes[1]).toEqual({ kind: 'relayed', status: 200 });
  });
});
