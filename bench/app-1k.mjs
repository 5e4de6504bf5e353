#!/usr/bin/env node
// The upstream app of bench/proxy-compare.mjs: answers every GET or HEAD with
// the same 1024-byte body (and 405 to anything else), keep-alive, nothing else.
// Being this small keeps its own cost low and identical for every proxy in
// front of it, so the differences between paths are the proxies' own.
//
// No smoke mode of its own: `node bench/proxy-compare.mjs --smoke` (and so
// test/bench-smoke.test.ts) runs it behind every request of its path.
//
// usage: node bench/app-1k.mjs --port PORT [--host 127.0.0.1]
//        (--port 0 picks a free port; the chosen one is printed as JSON on stdout)
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
const port = Number(values.port);
if (values.port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`usage: app-1k.mjs --port PORT [--host HOST] (got --port "${values.port ?? ''}")\n`);
  process.exit(2);
}

const BODY = Buffer.alloc(1024, 'x');
const HEADERS = { 'content-type': 'text/plain', 'content-length': String(BODY.length) };

const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'content-length': '0', allow: 'GET, HEAD' });
    res.end();
    return;
  }
  res.writeHead(200, HEADERS);
  res.end(req.method === 'HEAD' ? undefined : BODY);
});

server.listen(port, values.host, () => {
  process.stdout.write(`${JSON.stringify({ msg: 'app-1k listening', port: server.address().port })}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
