#!/usr/bin/env node
// A gRPC client for the demo mesh (@grpc/grpc-js, one channel for every call),
// calling the greeter service (proto/greeter.proto) through the client agent.
//
// Two ways in, as an app would use them:
//   default     cleartext HTTP/2 (h2c) to the agent's outbound listener,
//               127.0.0.1:15001, with the service as the :authority
//               (grpc-js's `grpc.default_authority` channel option)
//   --proxy     target the service by name (greeter:80) and let grpc-js
//               tunnel through the agent with CONNECT, as it does for an app
//               with `grpc_proxy` set (the URL: --proxy URL, else $grpc_proxy,
//               else http://127.0.0.1:15001)
//
// usage: node deploy/local/grpc-call.mjs [options] COMMAND [ARGS]
//   hello [NAME]        unary SayHello
//   count N             server streaming: prints N numbers as they arrive
//   sum N...            client streaming: sends the numbers, prints the sum
//   echo WORD...        bidirectional: sends each word, prints each echo
//   spread N            N unary calls on the one channel, then the calls each instance served
//   health [SERVICE]    grpc.health.v1.Health/Check
//   fault MODE [MS]     drills, to one app directly (--target 127.0.0.1:APP_PORT): Drill/SetFault
//                       none | internal | slow | not-serving | slow-health (MS: the slow modes' delay)
//   stats               that app's Drill/Stats: calls served and cancelled, health checks
// options:
//   --service NAME      the mesh service (default greeter)
//   --target HOST:PORT  where to connect (default 127.0.0.1:15001, the client agent)
//   --proxy [URL]       through grpc_proxy (default $grpc_proxy, else http://127.0.0.1:15001)
//   --deadline-ms N     per call (default 5000)
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const here = dirname(fileURLToPath(import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    service: { type: 'string', default: 'greeter' },
    target: { type: 'string' },
    proxy: { type: 'string' },
    'deadline-ms': { type: 'string', default: '5000' },
    help: { type: 'boolean', short: 'h' },
  },
  // `--proxy` alone takes the default URL.
  args: process.argv.slice(2).flatMap((a, i, all) =>
    a === '--proxy' && (all[i + 1] === undefined || !/^https?:/.test(all[i + 1])) ? ['--proxy', process.env.grpc_proxy || 'http://127.0.0.1:15001'] : [a],
  ),
});
const [command = 'hello', ...args] = positionals;
const fail = (why) => {
  process.stderr.write(`grpc-call: ${why}\n`);
  process.exit(2);
};
if (values.help) {
  process.stdout.write('usage: grpc-call.mjs [--service NAME] [--target HOST:PORT] [--proxy [URL]] hello|count|sum|echo|spread|health|fault|stats [ARGS]\n');
  process.exit(0);
}
const deadlineMs = Number(values['deadline-ms']);
if (!Number.isInteger(deadlineMs) || deadlineMs <= 0) fail('--deadline-ms must be a positive integer');

const def = protoLoader.loadSync([join(here, 'proto', 'greeter.proto'), join(here, 'proto', 'health.proto')], {
  longs: Number,
  enums: String,
  defaults: true,
});
const pkg = grpc.loadPackageDefinition(def);

let target;
const options = {};
if (values.proxy !== undefined) {
  // grpc-js reads the proxy from the environment; CONNECT names the target, the mesh service.
  process.env.grpc_proxy = values.proxy;
  target = values.target ?? `${values.service}:80`;
} else {
  target = values.target ?? '127.0.0.1:15001';
  options['grpc.default_authority'] = values.service;
  // A grpc_proxy left in the shell would tunnel this direct connection too.
  options['grpc.enable_http_proxy'] = 0;
}
const credentials = grpc.credentials.createInsecure();
const greeter = new pkg.meshlet.demo.Greeter(target, credentials, options);
const deadline = () => ({ deadline: Date.now() + deadlineMs });
const say = (s) => process.stdout.write(`${s}\n`);

function unary(client, method, request) {
  return new Promise((resolve, reject) =>
    client[method](request, deadline(), (err, reply) => (err ? reject(err) : resolve(reply))),
  );
}

async function run() {
  switch (command) {
    case 'hello': {
      const r = await unary(greeter, 'SayHello', { name: args[0] ?? 'mesh' });
      return say(`${r.message}`);
    }
    case 'count': {
      const n = Number(args[0] ?? 5);
      if (!Number.isInteger(n) || n < 0) fail('count N: N must be a whole number');
      await new Promise((resolve, reject) => {
        const call = greeter.Count({ n }, deadline());
        call.on('data', (m) => say(`${m.value} (from ${m.instance})`));
        call.on('end', resolve);
        call.on('error', reject);
      });
      return;
    }
    case 'sum': {
      const numbers = args.map(Number);
      if (numbers.some((x) => !Number.isInteger(x) || x < 0)) fail('sum N...: whole numbers only');
      const r = await new Promise((resolve, reject) => {
        const call = greeter.Sum(deadline(), (err, reply) => (err ? reject(err) : resolve(reply)));
        for (const value of numbers) call.write({ value });
        call.end();
      });
      return say(`sum ${r.sum} of ${r.count} numbers (from ${r.instance})`);
    }
    case 'echo': {
      await new Promise((resolve, reject) => {
        const call = greeter.Echo(deadline());
        call.on('data', (m) => say(`${m.instance}: ${m.text}`));
        call.on('end', resolve);
        call.on('error', reject);
        for (const text of args.length ? args : ['hello', 'mesh']) call.write({ text });
        call.end();
      });
      return;
    }
    case 'spread': {
      const n = Number(args[0] ?? 100);
      if (!Number.isInteger(n) || n <= 0 || n > 100_000) fail('spread N: N from 1 to 100000');
      // Every call counted: by the instance that answered, or by the gRPC code it failed with.
      const by = {};
      for (let i = 0; i < n; i++) {
        let key;
        try {
          key = (await unary(greeter, 'SayHello', { name: `call ${i}` })).instance;
        } catch (e) {
          key = `failed ${codeName(e.code)}`;
        }
        by[key] = (by[key] ?? 0) + 1;
      }
      say(`${n} calls on one channel:`);
      for (const [key, count] of Object.entries(by).sort()) say(`  ${key}  ${count}`);
      return;
    }
    case 'health': {
      const health = new pkg.grpc.health.v1.Health(target, credentials, options);
      const r = await unary(health, 'Check', { service: args[0] ?? '' });
      return say(r.status);
    }
    case 'fault': {
      const drill = new pkg.meshlet.demo.Drill(target, credentials, options);
      const r = await unary(drill, 'SetFault', { mode: args[0] ?? 'none', delayMs: Number(args[1] ?? 0) });
      return say(`fault mode ${r.mode} (delay ${r.delayMs} ms)`);
    }
    case 'stats': {
      const drill = new pkg.meshlet.demo.Drill(target, credentials, options);
      return say(JSON.stringify(await unary(drill, 'Stats', {})));
    }
    default:
      fail(`unknown command "${command}": hello, count, sum, echo, spread, health, fault or stats`);
  }
}

function codeName(code) {
  return Object.entries(grpc.status).find(([, v]) => v === code)?.[0] ?? String(code);
}

try {
  await run();
  process.exit(0);
} catch (e) {
  process.stderr.write(`grpc-call: ${command} failed: ${codeName(e.code)}: ${e.details ?? e.message}\n`);
  process.exit(1);
}
