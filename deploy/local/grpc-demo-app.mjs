#!/usr/bin/env node
// The gRPC demo service for meshlet drills and tests (proto/greeter.proto):
//
//   meshlet.demo.Greeter   SayHello (unary), Count (server streaming),
//                          Sum (client streaming), Echo (bidirectional);
//                          every answer names the instance that served it
//   grpc.health.v1.Health  Check: SERVING (overall "" and "meshlet.demo.Greeter")
//   meshlet.demo.Drill     SetFault / Stats: switch the fault mode at run time,
//                          read what was served and cancelled (never faulted)
//
// Fault modes (--fault at start, or Drill/SetFault):
//   none         answer normally
//   internal     every Greeter call fails with INTERNAL (health stays SERVING,
//                so it is outlier detection that must eject the instance)
//   slow         every Greeter call answers (or starts streaming) after --delay-ms
//   not-serving  Health/Check answers NOT_SERVING
//   slow-health  Health/Check answers after --delay-ms
//
// It speaks cleartext HTTP/2 (h2c) only, as a gRPC server behind a sidecar does.
// Count honours flow control: it writes the next message only when the stream
// drains, so a slow reader holds the server back instead of filling memory.
//
// usage: node grpc-demo-app.mjs --instance greeter-1 --port 18181
//          [--service greeter] [--host 127.0.0.1] [--fault MODE] [--delay-ms N]
//        (or INSTANCE, PORT, FAULT, DELAY_MS in the environment)
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    service: { type: 'string', default: process.env.SERVICE ?? 'greeter' },
    instance: { type: 'string', default: process.env.INSTANCE },
    port: { type: 'string', default: process.env.PORT },
    host: { type: 'string', default: '127.0.0.1' },
    fault: { type: 'string', default: process.env.FAULT ?? 'none' },
    'delay-ms': { type: 'string', default: process.env.DELAY_MS ?? '2000' },
  },
});
const usage = (why) => {
  process.stderr.write(`grpc-demo-app: ${why}\n`);
  process.stderr.write(
    'usage: grpc-demo-app.mjs --instance ID --port PORT [--service NAME] [--host HOST] [--fault MODE] [--delay-ms N]\n',
  );
  process.exit(2);
};
const MODES = ['none', 'internal', 'slow', 'not-serving', 'slow-health'];
if (!values.instance) usage('--instance (or INSTANCE) is required');
if (values.port === undefined) usage('--port (or PORT) is required');
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`--port must be a port number, got "${values.port}"`);
if (!MODES.includes(values.fault)) usage(`--fault must be one of ${MODES.join(', ')}, got "${values.fault}"`);
const delayMs = Number(values['delay-ms']);
if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 600_000)
  usage(`--delay-ms must be an integer from 0 to 600000, got "${values['delay-ms']}"`);

const instance = values.instance;
const fault = { mode: values.fault, delayMs };
const stats = { served: 0, cancelled: 0, healthChecks: 0 };
const log = (msg, extra = {}) => process.stdout.write(`${JSON.stringify({ msg, instance, ...extra })}\n`);

const loaded = protoLoader.loadSync([join(here, 'proto', 'greeter.proto'), join(here, 'proto', 'health.proto')], {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
});
const proto = grpc.loadPackageDefinition(loaded);

const internal = () => ({ code: grpc.status.INTERNAL, details: `injected fault: ${instance} answers INTERNAL` });
/**
 * Runs `answer(state)` now, or after the delay in slow mode; fails the call with
 * INTERNAL through `fail` in internal mode. `state.cancelled` turns true when the
 * client cancels (RST_STREAM) before the handler called `state.done()`; grpc-js
 * signals 'cancelled' on every stream close, so a finished call is not counted.
 */
function serve(call, fail, answer) {
  const state = { cancelled: false, finished: false, done: () => void (state.finished = true) };
  call.on('cancelled', () => {
    if (state.finished) return;
    state.cancelled = true;
    stats.cancelled++;
    log('call cancelled', { method: call.getPath?.() });
  });
  const go = () => {
    if (state.cancelled) return;
    stats.served++;
    if (fault.mode === 'internal') {
      state.done();
      return fail(internal());
    }
    answer(state);
  };
  if (fault.mode === 'slow') setTimeout(go, fault.delayMs);
  else go();
}

const greeter = {
  SayHello(call, callback) {
    serve(call, callback, (state) => {
      state.done();
      callback(null, { message: `Hello, ${call.request.name || 'world'}, from ${instance}`, instance });
    });
  },
  Count(call) {
    const n = Math.min(call.request.n, 10_000_000);
    const pad = Buffer.alloc(Math.min(call.request.padBytes, 1 << 20));
    serve(
      call,
      (err) => call.emit('error', err),
      (state) => {
        let i = 1;
        const pump = () => {
          while (i <= n) {
            if (state.cancelled) return;
            const more = call.write({ value: i++, instance, pad });
            if (!more) return void call.once('drain', pump);
          }
          state.done();
          call.end();
        };
        pump();
      },
    );
  },
  Sum(call, callback) {
    serve(call, callback, (state) => {
      let sum = 0;
      let count = 0;
      call.on('data', (m) => {
        sum += m.value;
        count++;
      });
      call.on('end', () => {
        state.done();
        callback(null, { sum, count, instance });
      });
    });
  },
  Echo(call) {
    serve(
      call,
      (err) => call.emit('error', err),
      (state) => {
        call.on('data', (m) => call.write({ text: m.text, instance }));
        call.on('end', () => {
          state.done();
          call.end();
        });
      },
    );
  },
};

const SERVICES = new Set(['', 'meshlet.demo.Greeter']);
const health = {
  Check(call, callback) {
    stats.healthChecks++;
    const answer = () => {
      if (!SERVICES.has(call.request.service))
        return callback({ code: grpc.status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
      callback(null, { status: fault.mode === 'not-serving' ? 'NOT_SERVING' : 'SERVING' });
    };
    if (fault.mode === 'slow-health') setTimeout(answer, fault.delayMs);
    else answer();
  },
};

const drill = {
  SetFault(call, callback) {
    const { mode, delayMs: d } = call.request;
    if (!MODES.includes(mode))
      return callback({ code: grpc.status.INVALID_ARGUMENT, details: `mode must be one of ${MODES.join(', ')}` });
    fault.mode = mode;
    if (d > 0) fault.delayMs = Math.min(d, 600_000);
    log('fault mode set', fault);
    callback(null, { mode: fault.mode, delayMs: fault.delayMs });
  },
  Stats(_call, callback) {
    callback(null, { instance, ...stats });
  },
};

const server = new grpc.Server();
server.addService(proto.meshlet.demo.Greeter.service, greeter);
server.addService(proto.grpc.health.v1.Health.service, health);
server.addService(proto.meshlet.demo.Drill.service, drill);
server.bindAsync(`${values.host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
  if (err) {
    process.stderr.write(`grpc-demo-app: cannot listen on ${values.host}:${port}: ${err.message}\n`);
    process.exit(1);
  }
  log('grpc demo app listening', { service: values.service, port: bound, fault: fault.mode });
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.tryShutdown(() => process.exit(0));
    setTimeout(() => server.forceShutdown(), 2_000).unref();
  });
}
