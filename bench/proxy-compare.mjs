#!/usr/bin/env node
// The meshlet agent next to HAProxy, nginx and @fastify/http-proxy, measured
// side by side in one run on this machine, for a 1 KiB response.
//
// Starts on loopback, each on a free port: bench/app-1k.mjs (the app, and a
// second one over HTTPS with client certificates), a control plane, the app's
// agents (B: service hello, strict mTLS, the default; P: service
// hello-permissive, permissive), a client agent (A), HAProxy, nginx and
// bench/fastify-proxy.mjs, and sends the same bounded load down each path:
//
//   direct       client -> app
//   agent        client -> agent P inbound -> app            (one hop, plaintext)
//   agent-mtls   client with a mesh certificate =mTLS=> agent B inbound -> app
//   mesh         client -> agent A outbound =mTLS=> agent B inbound -> app (the default)
//   mesh-plain   client -> agent A outbound -> agent P inbound -> app
//   haproxy      client -> HAProxy (http mode, nbthread 1) -> app
//   haproxy-tls  client =TLS=> HAProxy =mTLS=> app (HTTPS)
//   nginx        client -> nginx (1 worker, upstream keepalive) -> app
//   nginx-tls    client =TLS=> nginx =mTLS=> app (HTTPS)
//   fastify      client -> @fastify/http-proxy, defaults -> app
//
// and, in throughput mode, the HTTP/2 paths, with h2load (Debian's
// nghttp2-client) as the client over cleartext HTTP/2 to an h2c app
// (bench/lib/proxy-compare/h2-paths.mjs):
//
//   h2-direct    h2load -> app (h2c)
//   h2-haproxy   h2load -> HAProxy in HTTP/2 mode (h2c both sides) -> app
//   h2-node      h2load -> a minimal node:http2 relay (h2c both sides) -> app: Node's http2 alone
//   h2-agent     h2load -> agent inbound (h2c, permissive) -> app (h2c): one agent hop
//   h2-mesh      h2load -> agent A outbound (h2c) =h2 over mTLS=> agent H inbound -> app (h2c)
//
// mesh-plain: no agent setting turns mTLS off, so agent A reaches agent P
// through an endpoint of service hello-plain registered over the stream
// without `mtls` (bench/lib/proxy-compare/plaintext-registration.mjs): both
// agents then run their plaintext code, unchanged. TLS is 1.3 everywhere,
// with keep-alive and connection reuse on both hops of every proxy;
// certificates are made for the run (bench/lib/proxy-compare/tls-material.mjs).
//
// Throughput mode (default): autocannon at a fixed connection count; req/s,
// p50/p99, and the proxy processes' CPU time per request (utime + stime from
// /proc/PID/stat before and after, divided by the requests), as ratios to
// HAProxy and, for each TLS path, to its plaintext counterpart. Rate mode
// (--rate N): N req/s for --duration s per path, in rounds that alternate the
// paths, timed with hrtime (bench/lib/fixed-rate-load.mjs)
// because autocannon's latencies are whole milliseconds; reports p50/p99 and
// what the agents add over direct, and the TLS paths' ratios to plaintext.
//
// usage: node bench/proxy-compare.mjs [--duration 5] [--connections 16] [--warmup 1]
//                                     [--rate 1000 [--rounds 3]] [--paths direct,agent,...]
//                                     [--install] [--write [--doc docs/benchmarks.md]] [--smoke]
//                                     [--cpu-prof DIR]
//
// --cpu-prof DIR: each agent writes a V8 CPU profile (agent-A.cpuprofile,
// agent-B.cpuprofile, ...) into DIR when it stops, to open in Chrome
// DevTools; the profiler costs CPU, so such a run's figures are not
// comparable with others.
//
// --smoke: both modes over every path (or --paths), with a small load: 200
// requests per path at 2 connections, then 50 at 500 req/s, no warm-up; for
// the test suite and `npm run bench:smoke`. No timing is checked, but a
// path that does not start, a request that fails and a path whose proxy is
// not installed (Debian packages haproxy, nginx and nghttp2-client (h2load);
// .ci/run installs them) each exit 1 with the reason. --write is refused with --smoke.
//
// Code: this entry reads the options; bench/lib/proxy-compare/paths.mjs
// defines the paths over the processes of bench/lib/proxy-compare/processes.mjs,
// bench/lib/proxy-compare/modes.mjs measures and reports.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { rateMode, throughputMode } from './lib/proxy-compare/modes.mjs';
import { writeDoc } from './lib/proxy-compare/report.mjs';
import { ALL_PATHS, proxyPaths, RATE_PATHS } from './lib/proxy-compare/paths.mjs';
import { benchScratch } from './lib/process-group.mjs';
import { INSTALL_HINT, findBinary, installProxies } from './lib/system-proxies.mjs';
import { H2_PATHS, h2Paths } from './lib/proxy-compare/h2-paths.mjs';
import { h2Mode } from './lib/proxy-compare/h2-mode.mjs';
import { H2LOAD_PACKAGE, findH2load } from './lib/proxy-compare/h2load.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const log = (s) => process.stderr.write(`${s}\n`);

/** The Debian package of each system proxy, named when a smoke run finds it missing. */
const PACKAGES = { haproxy: 'haproxy', nginx: 'nginx', h2load: H2LOAD_PACKAGE };
/** A smoke run's load per path: autocannon for a number of requests, then the fixed-rate load. */
const SMOKE = { connections: 2, amount: 200, rate: 500, seconds: 0.1 };

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    warmup: { type: 'string', default: '1' },
    rate: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    paths: { type: 'string' },
    install: { type: 'boolean', default: false },
    write: { type: 'boolean', default: false },
    doc: { type: 'string', default: join(root, 'docs', 'benchmarks.md') },
    smoke: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    readFileSync(fileURLToPath(import.meta.url), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('//'))
      .map((l) => l.slice(3))
      .join('\n') + '\n',
  );
  process.exit(0);
}
const clampInt = (name, lo, hi) => {
  const n = Number(values[name]);
  if (!Number.isFinite(n)) {
    log(`--${name} must be a number, got "${values[name]}"`);
    process.exit(2);
  }
  return Math.min(hi, Math.max(lo, Math.round(n)));
};
if (values.smoke && values.write) {
  log('--smoke measures nothing worth keeping: leave out --write');
  process.exit(2);
}
const duration = clampInt('duration', 1, 60);
const connections = clampInt('connections', 1, 256);
const warmup = clampInt('warmup', 0, 10);
const rate = values.rate === undefined ? undefined : clampInt('rate', 1, 20_000);
const rounds = clampInt('rounds', 1, 10);
const mode = rate === undefined ? 'throughput' : 'rate';
// The HTTP/2 paths are measured in throughput mode (h2load has no fixed-rate mode with the same timing).
const paths = (values.paths ?? (mode === 'rate' && !values.smoke ? RATE_PATHS : [...ALL_PATHS, ...H2_PATHS]).join(','))
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const p of paths) {
  if (!ALL_PATHS.includes(p) && !H2_PATHS.includes(p)) {
    log(`--paths: unknown path "${p}"; known: ${[...ALL_PATHS, ...H2_PATHS].join(', ')}`);
    process.exit(2);
  }
}
for (const file of ['agent/dist/main.js', 'control-plane/dist/main.js']) {
  if (!existsSync(join(root, file))) {
    log(`${file} is missing: run \`npm run build\` first`);
    process.exit(2);
  }
}
const pathsGiven = values.paths !== undefined;
const h2Wanted = paths.filter((p) => H2_PATHS.includes(p));
if (h2Wanted.length > 0 && mode === 'rate' && !values.smoke) {
  log(`the HTTP/2 paths (${h2Wanted.join(', ')}) are measured in throughput mode only: leave out --rate`);
  process.exit(2);
}
/** The runs to make: the one mode asked for, or both with a small load (--smoke). */
const runs = values.smoke
  ? [
      {
        mode: 'throughput',
        duration: 1,
        connections: SMOKE.connections,
        warmup: 0,
        amount: SMOKE.amount,
        paths,
        pathsGiven,
      },
      {
        mode: 'rate',
        duration: SMOKE.seconds,
        rate: SMOKE.rate,
        rounds: 1,
        warmup: 0,
        paths: paths.filter((p) => !H2_PATHS.includes(p)),
        pathsGiven,
      },
    ]
  : [{ mode, duration, connections, warmup, rate, rounds, paths, pathsGiven }];

// --- processes -------------------------------------------------------------

const { group, dir, cleanup, exit } = benchScratch('meshlet-proxy-compare-', log);
const cpuProfDir = values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']);
if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });
const { PATH_DEFS: H1_DEFS, app, processes } = proxyPaths({ group, dir, root, bench: here, connections, cpuProfDir });
const H2_PATH_DEFS = h2Paths({ p: processes, group, dir, bench: here, root });
const PATH_DEFS = { ...H1_DEFS, ...H2_PATH_DEFS };
/** The binaries a path needs: its proxy's, and h2load for an HTTP/2 path. */
const binariesOf = (name) => [PATH_DEFS[name].binary, H2_PATHS.includes(name) ? 'h2load' : undefined].filter(Boolean);
const installed = (b) => (b === 'h2load' ? findH2load() : findBinary(b));

/** In a smoke run, every path must have served every request. */
function checkSmoke(rows, runMode) {
  const bad = rows
    .filter((r) => r.errors > 0 || (r.n ?? r.sent) === 0)
    .map((r) => `${r.name}: ${r.errors} errors in ${r.n ?? r.sent} requests`);
  if (bad.length > 0) throw new Error(`smoke (${runMode} mode): ${bad.join('; ')}`);
}

// --- main ------------------------------------------------------------------

try {
  const missing = ['haproxy', 'nginx', 'h2load'].filter(
    (b) => !installed(b) && paths.some((p) => binariesOf(p).includes(b)),
  );
  if (missing.length > 0 && values.smoke) {
    throw new Error(
      `the smoke run measures every path, and ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not installed: install Debian's ${missing.map((b) => PACKAGES[b]).join(' and ')} (apt-get install -y ${missing.map((b) => PACKAGES[b]).join(' ')}; .ci/run does), or leave ${missing.length > 1 ? 'those paths' : 'that path'} out with --paths`,
    );
  }
  if (missing.length > 0) {
    if (values.install && missing.some((b) => b !== 'h2load'))
      installProxies(
        log,
        missing.filter((b) => b !== 'h2load'),
      );
    if (missing.includes('h2load'))
      log(`h2load not installed: the HTTP/2 paths are skipped (apt-get install -y ${H2LOAD_PACKAGE})`);
    else
      log(
        `${missing.join(' and ')} not installed: their paths are skipped. To include them: ${INSTALL_HINT} (as root), or run with --install`,
      );
  }
  const ready = [];
  const skipped = [];
  for (const name of paths) {
    const def = PATH_DEFS[name];
    const absent = binariesOf(name).find((b) => !installed(b));
    if (absent) {
      const hint = absent === 'h2load' ? `apt-get install -y ${H2LOAD_PACKAGE}` : INSTALL_HINT;
      skipped.push({ name, why: `${absent} not installed (\`${hint}\`)` });
      continue;
    }
    log(`starting ${name} (${def.what})...`);
    ready.push({ name, label: def.label, what: def.what, ...(await def.setup()) });
  }
  if (ready.length === 0) throw new Error('no path to measure');
  const env = { app, group, log, root, dir, PATH_DEFS, H2_PATH_DEFS };
  const isH2 = (p) => H2_PATHS.includes(p.name);
  const [h1Ready, h2Ready] = [ready.filter((p) => !isH2(p)), ready.filter(isH2)];
  const [h1Skipped, h2Skipped] = [skipped.filter((p) => !isH2(p)), skipped.filter(isH2)];
  for (const s of runs) {
    let h1Rows;
    if (h1Ready.length > 0) {
      const { rows, text } =
        s.mode === 'rate'
          ? await rateMode(env, h1Ready, h1Skipped, s)
          : await throughputMode(env, h1Ready, h1Skipped, s);
      process.stdout.write(`${text}\n`);
      if (values.smoke) checkSmoke(rows, s.mode);
      if (values.write) writeDoc(resolve(values.doc), text, s.mode, log);
      h1Rows = rows;
    }
    if (s.mode === 'throughput' && h2Ready.length > 0) {
      const { rows, text } = await h2Mode(env, h2Ready, h2Skipped, { ...s, h1Rows });
      process.stdout.write(`${text}\n`);
      if (values.smoke) checkSmoke(rows, 'http2');
      if (values.write) writeDoc(resolve(values.doc), text, 'http2', log);
    }
  }
  if (values.smoke) log(`proxy-compare smoke: every path answered (${ready.map((p) => p.name).join(', ')})`);
} catch (err) {
  // After SIGINT the processes are being stopped under the run's feet: that error is expected.
  if (!exit.interrupted) log(`proxy-compare failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
