import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../harness/mesh.js';
import { Proc } from '../harness/process.js';
import { FakeLockAgent, type FakeFlaw } from './lib/fake-lock-agent.js';
import { FencedResource } from './lib/fenced-resource.js';
import { checkLocks } from './lib/lock-checker.js';
import { parseHistory } from './lib/lock-history.js';

// The lock clients of the checker (lock-client.mjs, real child processes)
// and the checker, against an in-memory stand-in for the agent's lock
// routes: a sound one passes, with stale writes refused by the resource;
// one that grants a held lock (no compare-and-set) is caught. Proof that the
// checker can fail, before it is trusted on the real mesh.

const SCRIPT = join(ROOT, 'test', 'coordination', 'lib', 'lock-client.mjs');
const dir = mkdtempSync(join(tmpdir(), 'meshlet-checker-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(flaw: FakeFlaw) {
  const agent = new FakeLockAgent(flaw);
  const resource = new FencedResource();
  await agent.listen();
  await resource.listen('127.0.0.1');
  try {
    const clients = ['a', 'b', 'c'].map((client) => {
      const history = join(dir, `${flaw}-${client}.jsonl`);
      const o = { agent: agent.url, resource: resource.url, client, history, ttlMs: 1000, waitMs: 1000 };
      const more = { holdMs: 300, writeGapMs: 50, lateEvery: 2, lateByMs: 300, maxMs: 4_000 };
      return {
        history,
        proc: new Proc(`lock-client-${client}`, process.execPath, [SCRIPT, JSON.stringify({ ...o, ...more })]),
      };
    });
    await Promise.all(clients.map((c) => c.proc.exited()));
    const events = clients.flatMap((c) => parseHistory(readFileSync(c.history, 'utf8')));
    return checkLocks({ events, writes: resource.writes, store: agent.records });
  } finally {
    await agent.close();
    await resource.close();
  }
}

describe('the lock clients and the checker, on a stand-in agent', () => {
  it('a sound lock service: no violation, every acquire recorded, late writes refused by the resource', async () => {
    const v = await run('none');
    expect(v.violations).toEqual([]);
    expect(v.acquires).toBeGreaterThan(3);
    expect(v.storeChecked).toBe(v.acquires);
    expect(v.writesAccepted).toBeGreaterThan(0);
    expect(v.writesRefused).toBeGreaterThan(0);
  }, 30_000);

  it('a lock service that grants a held lock: the checker finds two holders of one token', async () => {
    const v = await run('grants-held-locks');
    expect(v.violations.some((x) => x.startsWith('two holders with token'))).toBe(true);
  }, 30_000);
});
