import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './harness/mesh.js';

// An IPv6 caller holding a whole /64 against the per-address cap, on real
// sockets. Several addresses of one /64 are put on the loopback interface of
// a network namespace this test makes (and removes after; never the root
// namespace), and a guarded node:http server and its callers run inside it,
// in a child node (a process cannot enter a namespace from JavaScript).

const NS = `meshlet-v6-${randomBytes(3).toString('hex')}`;
const CALLERS = 20;
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

/** Run inside the namespace: a server capped at 4 connections per address, 20 callers of one /64, one of another. */
const PROBE = `
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { guardConnections } from '@meshlet/shared';
const prefix = Number(process.argv[1]);
const server = createServer((_req, res) => res.end('ok'));
guardConnections(server, {
  listener: 'probe',
  limits: { maxConnections: 1000, maxConnectionsPerAddress: 4, headersTimeoutMs: 10000, requestTimeoutMs: 20000,
    idleTimeoutMs: 30000, ipv6PrefixLength: prefix },
  refusal: 'http',
  answerClientErrors: true,
});
server.listen(0, '2001:db8:1:2::1');
await once(server, 'listening');
const { port } = server.address();
const call = (from) => new Promise((resolve) => {
  const socket = connect({ port, host: '2001:db8:1:2::1', localAddress: from });
  let data = '';
  socket.on('error', () => resolve({ from, status: 'error', socket }));
  socket.on('data', (d) => {
    data += d;
    const m = /^HTTP\\/1.1 (\\d+)/.exec(data);
    if (m && data.includes('\\r\\n\\r\\n')) resolve({ from, status: Number(m[1]), socket });
  });
  socket.on('connect', () => socket.write('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'));
});
const results = [];
for (let i = 0; i < ${CALLERS}; i++) results.push(await call('2001:db8:1:2::' + (0x100 + i).toString(16)));
results.push(await call('2001:db8:1:3::1'));
console.log(JSON.stringify(results.map(({ from, status }) => ({ from, status }))));
for (const r of results) r.socket.destroy();
server.closeAllConnections();
server.close();
`;

function rootAllowsNamespaces(): boolean {
  return process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list']).status === 0;
}

describe.skipIf(!rootAllowsNamespaces())('per-address caps on real IPv6 sockets', { timeout: 30_000 }, () => {
  beforeAll(() => {
    ip('netns', 'add', NS);
    ip('-n', NS, 'link', 'set', 'lo', 'up');
    ip('-n', NS, 'addr', 'add', '2001:db8:1:2::1/64', 'dev', 'lo', 'nodad');
    ip('-n', NS, 'addr', 'add', '2001:db8:1:3::1/64', 'dev', 'lo', 'nodad');
    for (let i = 0; i < CALLERS; i++)
      ip('-n', NS, 'addr', 'add', `2001:db8:1:2::${(0x100 + i).toString(16)}/64`, 'dev', 'lo', 'nodad');
  });
  afterAll(() => {
    spawnSync('ip', ['netns', 'del', NS]);
  });

  const probe = (prefix: number) => {
    const out = execFileSync(
      'ip',
      ['netns', 'exec', NS, process.execPath, '--input-type=module', '-e', PROBE, String(prefix)],
      { cwd: ROOT, encoding: 'utf8', timeout: 20_000 },
    );
    return JSON.parse(out) as Array<{ from: string; status: number | 'error' }>;
  };

  it('many connections from distinct addresses of one /64 are refused beyond the per-address cap; another /64 gets through', () => {
    const results = probe(64);
    const ofTheSlash64 = results.slice(0, CALLERS).map((r) => r.status);
    expect(ofTheSlash64.filter((s) => s === 200)).toHaveLength(4);
    expect(ofTheSlash64.filter((s) => s === 503)).toHaveLength(CALLERS - 4);
    expect(results[CALLERS]).toEqual({ from: '2001:db8:1:3::1', status: 200 });
  });

  it('with ipv6PrefixLength 128 each address is its own caller', () => {
    const results = probe(128);
    expect(results.every((r) => r.status === 200)).toBe(true);
  });
});
