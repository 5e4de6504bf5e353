#!/usr/bin/env node
// Flame graphs of V8 CPU profiles, as self-contained SVG files for the docs.
//
// `node --cpu-prof` (and `bench/proxy-compare.mjs --cpu-prof DIR`) write
// .cpuprofile files: a call tree whose nodes carry the samples taken in them.
// This draws that tree as a flame graph: each frame a box as wide as the
// share of busy samples spent in it and what it called, its callees below
// it (an icicle: the root on top). Idle samples are left out (the agent waits for sockets most of the
// time), so the widths are shares of the CPU the process used. Colours say
// whose code it is: meshlet's own (agent/, shared/, control-plane/), a
// dependency's (node_modules), Node's (node:), native (V8, syscalls, GC).
// Hovering a box shows its name, file and share.
//
// No library: Brendan Gregg's flamegraph.pl is not packaged for Debian, and
// 0x or speedscope each bring a viewer we do not need; the tree is already
// in the profile, so drawing it is a recursion over rectangles.
//
// usage: node bench/flame.mjs PROFILE.cpuprofile [--out FILE.svg] [--title T] [--min 0.2] [--skip-ms 0]
//        --skip-ms: leave out the profile's first milliseconds (a process's start-up: imports, schema compiles)
//        node bench/flame.mjs --smoke   (profiles a small workload in-process and draws it; checks the SVG)
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';

const WIDTH = 1200;
const ROW = 16;
const IDLE = new Set(['(idle)', '(root)']);
// Deeper frames are left out: a recursion (a schema compiler, a JSON walk) would make the picture metres tall.
const MAX_DEPTH = 40;

/** The sample time (µs) spent in each node, from the profile's samples and time deltas. */
function selfTimes(profile, skipMs) {
  const self = new Map();
  const { samples = [], timeDeltas = [] } = profile;
  let at = 0;
  for (let i = 0; i < samples.length; i++) {
    at += timeDeltas[i] ?? 0;
    if (at >= skipMs * 1000) self.set(samples[i], (self.get(samples[i]) ?? 0) + (timeDeltas[i] ?? 0));
  }
  return self;
}

/** Where a frame's code lives, for its colour. */
function kind(url, name) {
  if (url.includes('node_modules/')) return 'dependency';
  if (/\/(agent|shared|control-plane|cli)\/(dist|src)\//.test(url)) return 'meshlet';
  if (url.startsWith('node:')) return 'node';
  if (url === '' && name.startsWith('(')) return 'vm';
  return url === '' ? 'native' : 'other';
}

const COLOURS = {
  meshlet: ['#4f8fd6', '#6aa5e6'],
  dependency: ['#e0b040', '#ecc664'],
  node: ['#e07a3a', '#ec9660'],
  native: ['#d04a4a', '#e06a6a'],
  vm: ['#9a9a9a', '#b4b4b4'],
  other: ['#7bb36b', '#95c787'],
};

/** A frame's label: function, then the file (relative to the repository or node_modules) and line. */
function label(frame) {
  const name = frame.functionName || '(anonymous)';
  const url = frame.url
    .replace(/^file:\/\//, '')
    .replace(/.*node_modules\//, '')
    .replace(/.*\/(agent|shared|control-plane|cli)\//, '$1/');
  return url ? `${name} ${url}:${frame.lineNumber + 1}` : name;
}

const escape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The SVG of a profile's flame graph. Frames narrower than `minPercent` of
 * the busy time are left out (with their callees) to keep the file small.
 */
export function flameGraph(profile, { title = 'CPU profile', minPercent = 0.2, skipMs = 0 } = {}) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = selfTimes(profile, skipMs);
  const total = new Map();
  const sum = (id) => {
    const n = byId.get(id);
    if (IDLE.has(n.callFrame.functionName) && id !== profile.nodes[0].id) return 0;
    let t = IDLE.has(n.callFrame.functionName) ? 0 : (self.get(id) ?? 0);
    for (const c of n.children ?? []) t += sum(c);
    total.set(id, t);
    return t;
  };
  const root = profile.nodes[0].id;
  const busy = sum(root);
  if (busy === 0) throw new Error('the profile has no busy samples');
  let depthMax = 0;
  const boxes = [];
  const draw = (id, x, depth) => {
    const n = byId.get(id);
    const w = ((total.get(id) ?? 0) / busy) * WIDTH;
    if (w < (minPercent / 100) * WIDTH || depth > MAX_DEPTH) return;
    if (id !== root) boxes.push({ n, x, w, depth });
    depthMax = Math.max(depthMax, depth);
    let cx = x;
    const children = [...(n.children ?? [])].sort((a, b) =>
      label(byId.get(a).callFrame).localeCompare(label(byId.get(b).callFrame)),
    );
    for (const c of children) {
      draw(c, cx, depth + 1);
      cx += ((total.get(c) ?? 0) / busy) * WIDTH;
    }
  };
  draw(root, 0, 0);
  const height = (depthMax + 1) * ROW + 36;
  const rows = boxes.map(({ n, x, w, depth }, i) => {
    const k = kind(n.callFrame.url, n.callFrame.functionName);
    const text = label(n.callFrame);
    const pct = ((100 * (total.get(n.id) ?? 0)) / busy).toFixed(1);
    const y = 28 + depth * ROW;
    const chars = Math.floor((w - 6) / 6.5);
    const shown = chars >= 4 ? (text.length > chars ? `${text.slice(0, chars - 1)}…` : text) : '';
    return (
      `<g><title>${escape(text)} (${pct}%, ${k})</title>` +
      `<rect x="${x.toFixed(2)}" y="${y}" width="${Math.max(w - 0.5, 0.5).toFixed(2)}" height="${ROW - 1}" fill="${COLOURS[k][i % 2]}"/>` +
      (shown ? `<text x="${(x + 3).toFixed(2)}" y="${y + 11.5}">${escape(shown)}</text>` : '') +
      '</g>'
    );
  });
  const legend = Object.entries(COLOURS)
    .filter(([k]) => k !== 'other')
    .map(
      ([k, [c]], i) =>
        `<rect x="${10 + i * 110}" y="24" width="12" height="12" fill="${c}"/><text x="${26 + i * 110}" y="34">${k}</text>`,
    )
    .join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
    `font-family="monospace" font-size="11">` +
    `<rect width="100%" height="100%" fill="#fdfdfd"/>` +
    `<text x="10" y="16" font-size="13" font-weight="bold">${escape(title)} (busy ${(busy / 1000).toFixed(0)} ms, idle left out; callers above callees)</text>` +
    legend +
    rows.join('') +
    '</svg>\n'
  );
}

async function smoke() {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  const deadline = Date.now() + 200;
  let x = 0;
  const busyWork = () => {
    for (let i = 0; i < 1e4; i++) x += Math.sqrt(i) * JSON.stringify({ i }).length;
  };
  while (Date.now() < deadline) busyWork();
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  const svg = flameGraph(profile, { title: 'smoke' });
  if (!svg.startsWith('<svg') || !svg.includes('busyWork') || !(x > 0))
    throw new Error('the smoke profile did not draw busyWork');
  console.log(`drew ${svg.length} bytes of SVG`);
  console.log('smoke: every path answered');
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string' },
    title: { type: 'string' },
    min: { type: 'string', default: '0.2' },
    'skip-ms': { type: 'string', default: '0' },
    smoke: { type: 'boolean', default: false },
  },
});
if (values.smoke) await smoke();
else {
  if (positionals.length !== 1) {
    console.error('usage: node bench/flame.mjs PROFILE.cpuprofile [--out FILE.svg] [--title T] [--min 0.2]');
    process.exit(2);
  }
  const file = positionals[0];
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const out = values.out ?? file.replace(/\.cpuprofile$/, '') + '.svg';
  writeFileSync(
    out,
    flameGraph(profile, {
      title: values.title ?? basename(file),
      minPercent: Number(values.min),
      skipMs: Number(values['skip-ms']),
    }),
  );
  console.log(`wrote ${out}`);
}
