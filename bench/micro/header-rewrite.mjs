// Header rewrite: the request headers sent upstream (hop-by-hop ones
// dropped, Host set: rawUpstreamHeaders), the inbound side's identity
// headers (withCallerHeader), and the response headers the relay handler
// copies back (RelayHandler.onHeaders), each on a realistic header set.
import * as callerHeaders from '../../agent/dist/listener/caller-headers.js';
import { rawUpstreamHeaders } from '../../agent/dist/listener/hop-headers.js';
import { RelayHandler } from '../../agent/dist/listener/relay-handler.js';
import { REQUEST_HEADERS, expect, request } from './fixtures.mjs';

/** An API answer as an app behind the agent sends it, as undici hands it over: raw names and values as Buffers. */
export const RESPONSE_HEADERS = [
  ['Content-Type', 'application/json; charset=utf-8'],
  ['Content-Length', '1024'],
  ['Date', 'Sat, 05 Dec 2026 16:20:00 GMT'],
  ['Connection', 'keep-alive'],
  ['Keep-Alive', 'timeout=5'],
  ['Cache-Control', 'no-store'],
  ['ETag', 'W/"400-Zm9vYmFy"'],
  ['Vary', 'Accept-Encoding'],
  ['X-Request-Id', '4bf92f3577b34da6a3ce929d0e0e4736'],
  ['Server', 'orders/1.4.2'],
].flatMap(([n, v]) => [Buffer.from(n, 'latin1'), Buffer.from(v, 'latin1')]);

/** The same answer as undici's newer handler interface (`onResponseStart`) gives it: an object of strings. */
const RESPONSE_OBJECT = {};
for (let i = 0; i < RESPONSE_HEADERS.length; i += 2)
  RESPONSE_OBJECT[RESPONSE_HEADERS[i].toString('latin1').toLowerCase()] = RESPONSE_HEADERS[i + 1].toString('latin1');
/** What undici's newer handler interface passes for the request's flow control. */
const CONTROLLER = { pause() {}, resume() {}, abort() {}, paused: false, aborted: false };

/**
 * A stand-in for the client's `ServerResponse`: what the relay handler calls
 * while it takes the headers, and no socket (Node's own header writing is
 * not in the figure).
 */
function clientResponse() {
  return {
    destroyed: false,
    headersSent: false,
    writableFinished: false,
    statusCode: 200,
    on() {
      return this;
    },
    once() {
      return this;
    },
    off() {
      return this;
    },
    removeListener() {
      return this;
    },
    writeHead(status, headers) {
      this.statusCode = status;
      this.written = headers;
      return this;
    },
    write: () => true,
    end() {},
  };
}

export const group = 'header-rewrite';

export function cases() {
  const get = request('GET', '/api/orders/42');
  const named = request('GET', '/api/orders/42', [
    ...REQUEST_HEADERS.filter(([n]) => n !== 'Connection'),
    ['Connection', 'keep-alive, X-Debug-Token'],
    ['X-Debug-Token', 'abc'],
  ]);
  const fromAgent = request('GET', '/api/orders/42', [
    ...REQUEST_HEADERS,
    ['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['x-request-id', '4bf92f3577b34da6a3ce929d0e0e4736'],
    ['X-Meshlet-Caller', 'spiffe://spoofed/svc/admin'],
  ]);
  const sent = rawUpstreamHeaders(get, 'orders');
  expect(!sent.includes('Connection') && sent.includes('host'), 'rawUpstreamHeaders kept Connection or lost Host');
  const res = clientResponse();
  const done = () => undefined;
  const options = { fromApp: true };
  return {
    close: () => undefined,
    list: [
      {
        name: 'rawUpstreamHeaders, outbound (11 headers, Host set)',
        fn: () => rawUpstreamHeaders(get, 'orders'),
        check: (h) => h.length === 20,
      },
      {
        name: 'rawUpstreamHeaders, Connection naming a header',
        fn: () => rawUpstreamHeaders(named, 'orders'),
        check: (h) => !h.includes('X-Debug-Token'),
      },
      {
        // What the inbound listener builds for the app: one pass since issue 20 (appRequestHeaders), two before.
        name: 'inbound: headers for the app (with the caller)',
        fn: callerHeaders.appRequestHeaders
          ? () => callerHeaders.appRequestHeaders(fromAgent, 'spiffe://meshlet.local/svc/web')
          : () => callerHeaders.withCallerHeader(rawUpstreamHeaders(fromAgent), 'spiffe://meshlet.local/svc/web'),
        check: (h) => h.includes('x-meshlet-caller') && !h.includes('X-Meshlet-Caller'),
      },
      {
        name: 'response: RelayHandler + onHeaders (10 headers)',
        fn: () => {
          const handler = new RelayHandler(res, options, done);
          if (typeof handler.onHeaders === 'function') handler.onHeaders(200, RESPONSE_HEADERS, done);
          // Should the handler move to undici's newer handler interface, its answer comes as an object.
          else handler.onResponseStart(CONTROLLER, 200, RESPONSE_OBJECT, 'OK');
          return res.written;
        },
        check: (h) => Array.isArray(h) && h.length === 16,
      },
    ],
  };
}
