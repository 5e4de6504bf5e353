#!/usr/bin/env node
// The upstream app of bench/proxy-compare.mjs: answers every GET or HEAD with
// the same 1024-byte body (and 405 to anything else), keep-alive, nothing else.
// Being this small keeps its own cost low and identical for every proxy in
// front of it, so the differences between paths are the proxies' own.
//
// No smoke mode of its own: `node bench/proxy-compare.mjs --smoke` (and so
// test/bench-smoke.test.ts) runs it behind every request of its path.
//
// With --cert, --key and --ca (PEM files) it serves HTTPS instead, TLS 1.3
// only, and requires a client certificate signed by the --ca: the app behind
// the TLS-on-both-sides HAProxy and nginx paths. With --h2c it speaks
// cleartext HTTP/2 (prior knowledge, node:http2) instead: the HTTP/2 paths' app.
//
// usage: node bench/app-1k.mjs --port PORT [--host 127.0.0.1] [--cert FILE --key FILE --ca FILE | --h2c]
//        (--port 0 picks a free port; the chosen one is printed as JSON on stdout)
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createH2cServer } from 'node:http2';
import { createServer as createTlsServer } from 'node:https';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    cert: { type: 'string' },
    key: { type: 'string' },
    ca: { type: 'string' },
    h2c: { type: 'boolean', default: false },
  },
});
const port = Number(values.port);
if (values.port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`usage: app-1k.mjs --port PORT [--host HOST] (got --port "${values.port ?? ''}")\n`);
  process.exit(2);
}

const BODY = Buffer.alloc(1024, 'x');
const HEADERS = { 'content-type': 'text/plain', 'content-length': String(BODY.length) };

const tls = [values.cert, values.key, values.ca].filter((v) => v !== undefined).length;
if (tls !== 0 && tls !== 3) {
  process.stderr.write('app-1k.mjs: --cert, --key and --ca go together (HTTPS with client certificates)\n');
  process.exit(2);
}
const read = (file) => readFileSync(file, 'utf8');
const options = { keepAliveTimeout: 30_000 };
const tlsOptions =
  tls === 3
    ? {
        cert: read(values.cert),
        key: read(values.key),
        ca: read(values.ca),
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
      }
    : undefined;
const answer = (req, res) => {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'content-length': '0', allow: 'GET, HEAD' });
    res.end();
    return;
  }
  res.writeHead(200, HEADERS);
  res.end(req.method === 'HEAD' ? undefined : BODY);
};
if (tlsOptions && values.h2c) {
  process.stderr.write('app-1k.mjs: --h2c is cleartext HTTP/2: leave out --cert, --key and --ca\n');
  process.exit(2);
}
const server = tlsOptions
  ? createTlsServer({ ...options, ...tlsOptions }, answer)
  : values.h2c
    ? createH2cServer(answer)
    : createServer(options, answer);

server.listen(port, values.host, () => {
  process.stdout.write(`${JSON.stringify({ msg: 'app-1k listening', port: server.address().port })}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    // An HTTP/2 server has no closeAllConnections: its sessions end with the process.
    if (server.closeAllConnections) server.closeAllConnections();
    else setTimeout(() => process.exit(0), 1000).unref();
  });
}
