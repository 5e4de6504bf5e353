#!/usr/bin/env node
// @fastify/http-proxy with its defaults (no prefix, undici agent as
// @fastify/reply-from builds it, Fastify's logger off as by default), as one
// of the one-hop reverse proxies that bench/proxy-compare.mjs compares the
// meshlet agent with. One Node process, like an agent.
//
// No smoke mode of its own: `node bench/proxy-compare.mjs --smoke` (and so
// test/bench-smoke.test.ts) runs it behind every request of its path.
//
// usage: node bench/fastify-proxy.mjs --port PORT --upstream http://127.0.0.1:APP_PORT [--host 127.0.0.1]
import { parseArgs } from 'node:util';
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    upstream: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
const port = Number(values.port);
if (values.port === undefined || !Number.isInteger(port) || port < 0 || port > 65535 || !values.upstream) {
  process.stderr.write('usage: fastify-proxy.mjs --port PORT --upstream http://HOST:PORT [--host HOST]\n');
  process.exit(2);
}

const app = Fastify();
await app.register(proxy, { upstream: values.upstream });
const address = await app.listen({ port, host: values.host });
process.stdout.write(`${JSON.stringify({ msg: 'fastify proxy listening', address, upstream: values.upstream })}\n`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
