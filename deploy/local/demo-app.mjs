#!/usr/bin/env node
// A small demo service for meshlet drills. It answers every request with its
// service and instance name (JSON body and `x-instance` header), and has
// fault modes switched through its own route:
//
//   POST /_demo/fault?mode=none|unhealthy|error|slow|reset[&delayMs=N]
//   GET  /_demo/fault                      -> the current mode
//   GET  /healthz                          -> 200, or 503 in mode "unhealthy"
//   WebSocket upgrade on any path          -> echoes each message, prefixed with the instance
//
// Its answers also carry the trace headers the mesh added (traceparent,
// x-request-id), so a drill can follow a request across the agents.
//
// usage: node demo-app.mjs --service hello --instance hello-1 --port 18081 [--host 127.0.0.1]
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

const { values } = parseArgs({
  options: {
    service: { type: 'string' },
    instance: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
if (!values.service || !values.instance || !values.port) {
  process.stderr.write('usage: demo-app.mjs --service NAME --instance ID --port PORT [--host HOST]\n');
  process.exit(2);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`demo-app: --port must be a port number, got "${values.port}"\n`);
  process.exit(2);
}

const MODES = new Set(['none', 'unhealthy', 'error', 'slow', 'reset']);
const fault = { mode: 'none', delayMs: 2000 };
let served = 0;

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'x-instance': values.instance,
  });
  res.end(text);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://demo');
  if (url.pathname === '/_demo/fault') {
    if (req.method === 'GET') return json(res, 200, fault);
    if (req.method !== 'POST' && req.method !== 'PUT') return json(res, 405, { error: 'use GET or POST' });
    const mode = url.searchParams.get('mode') ?? 'none';
    if (!MODES.has(mode)) return json(res, 400, { error: `mode must be one of ${[...MODES].join(', ')}` });
    const delay = url.searchParams.get('delayMs');
    if (delay !== null) {
      const n = Number(delay);
      if (!Number.isInteger(n) || n < 0 || n > 600_000) return json(res, 400, { error: 'delayMs must be an integer from 0 to 600000' });
      fault.delayMs = n;
    }
    fault.mode = mode;
    process.stdout.write(`${JSON.stringify({ msg: 'fault mode set', ...fault })}\n`);
    return json(res, 200, fault);
  }
  if (url.pathname === '/healthz') {
    return fault.mode === 'unhealthy' ? json(res, 503, { status: 'failing (fault mode)' }) : json(res, 200, { status: 'ok' });
  }
  if (fault.mode === 'reset') {
    req.socket.resetAndDestroy();
    return;
  }
  const answer = () => {
    served++;
    if (fault.mode === 'error') return json(res, 500, { error: 'injected fault', service: values.service, instance: values.instance });
    json(res, 200, {
      service: values.service,
      instance: values.instance,
      method: req.method,
      path: req.url,
      served,
      traceparent: req.headers.traceparent,
      requestId: req.headers['x-request-id'],
    });
  };
  if (fault.mode === 'slow') setTimeout(answer, fault.delayMs);
  else answer();
});

const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `${values.instance}: ${data}`));
  });
});

server.listen(port, values.host, () => {
  process.stdout.write(`${JSON.stringify({ msg: 'demo app listening', service: values.service, instance: values.instance, port: server.address().port })}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    for (const ws of wss.clients) ws.terminate();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
