#!/usr/bin/env node
// The yardstick for what Node's http2 module costs by itself (the h2-node
// path of bench/proxy-compare.mjs): a minimal HTTP/2 relay on node:http2's
// core API, h2c on both sides. Every stream of the server is sent as a
// stream on one shared client session to the app (`session.request`), its
// answer's headers passed back with `respond` and its body piped. No
// routing, no header filtering, no timers, no metrics, no retries, no error
// handling beyond resetting the stream: what any relay on node:http2 pays
// per request, whatever else it does. The meshlet agent's HTTP/2 hop over
// this relay's cost is the agent's own.
//
// With --fast-bind it first installs the agent's `useFastAsyncBind` (from
// agent/dist): Node 20's AsyncResource.bind, which every `session.request`
// calls, costs about 20 µs per request by itself (see that function), and
// the agent runs without it; the path uses it, so that the difference
// between this relay and the agent is the agent's own.
//
// usage: node h2-node-relay.mjs --port PORT --upstream http://127.0.0.1:APP_PORT [--fast-bind]
import { connect, constants, createServer } from 'node:http2';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { port: { type: 'string' }, upstream: { type: 'string' }, 'fast-bind': { type: 'boolean', default: false } },
});
if (values['fast-bind']) {
  const { useFastAsyncBind } = await import('../../../agent/dist/listener/h2/fast-async-bind.js');
  useFastAsyncBind();
}
if (values.port === undefined || values.upstream === undefined) {
  process.stderr.write('usage: h2-node-relay.mjs --port PORT --upstream http://HOST:PORT\n');
  process.exit(2);
}
let app;
const session = () => {
  if (app === undefined || app.closed || app.destroyed) {
    app = connect(values.upstream);
    app.on('error', () => undefined);
  }
  return app;
};
const server = createServer();
server.on('stream', (down, headers) => {
  const bodiless = headers[':method'] === 'GET' || headers[':method'] === 'HEAD';
  const up = session().request(
    {
      ':method': headers[':method'],
      ':path': headers[':path'],
      ':authority': headers[':authority'],
      ':scheme': 'http',
    },
    { endStream: bodiless },
  );
  if (bodiless) down.resume();
  else down.pipe(up);
  up.on('response', (h) => {
    if (!down.destroyed) down.respond(h);
  });
  up.pipe(down);
  up.on('error', () => !down.destroyed && down.close(constants.NGHTTP2_INTERNAL_ERROR));
  down.on('error', () => !up.destroyed && up.close(constants.NGHTTP2_CANCEL));
});
server.listen(Number(values.port), '127.0.0.1');
