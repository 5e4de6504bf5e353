import { spawnSync } from 'node:child_process';
import { connect } from 'node:http2';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, api } from '../harness/admin-api.js';
import { httpRequest } from '../harness/http.js';
import { meshctl } from '../harness/meshctl.js';
import { type AgentHandle, CP_BIN, type ControlPlaneHandle, withMesh } from '../harness/mesh.js';
import { openSse } from '../harness/sse-reader.js';
import { waitFor } from '../harness/wait.js';

// kv is range-sharded by the header x-key: [-inf, "h") on kv-1, ["h", "q") on
// kv-2, a gap ["q", "t"), and ["t", +inf) on the subset {shard: c} (kv-3).
// Every instance is a real demo app (it answers with its instance id) behind
// a real agent; the client agent's outbound listener is what the app calls.
const SHARDING = {
  kind: 'range',
  key: { header: 'x-key' },
  ranges: [
    { to: 'h', instance: 'kv-1' },
    { from: 'h', to: 'q', instance: 'kv-2' },
    { from: 't', subset: { shard: 'c' } },
  ],
};

describe('range sharding', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;
  let client: AgentHandle;

  const get = (key: string | undefined, headers: Record<string, string> = {}) =>
    httpRequest(client.outboundPort as number, 'http://kv/item', {
      headers: key === undefined ? headers : { ...headers, 'x-key': key },
    });
  const ownerOf = async (key: string) => {
    const a = await get(key);
    expect(a.status, a.body).toBe(200);
    return a.json().instance as string;
  };
  /** A bounded burst: every key `times` times, each answer's instance checked against the owner expected. */
  const burst = async (expected: Record<string, string>, times = 10) => {
    const wrong: string[] = [];
    for (let i = 0; i < times; i++)
      for (const [key, owner] of Object.entries(expected)) {
        const got = await ownerOf(key);
        if (got !== owner) wrong.push(`${key} -> ${got} (owner ${owner})`);
      }
    expect(wrong).toEqual([]);
  };
  const shards = async () => {
    const r = await api(cp, 'GET', '/v1/services/kv/shards');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  };
  /** Waits (deadline) until the client's agent ACKed a table at least as new as `version`. */
  const ackedBy = (version: number) =>
    waitFor(`the client agent to ACK table version ${version}`, async () => {
      const r = await api(cp, 'GET', '/v1/agents/client');
      return r.status === 200 && (r.body.ackedVersion ?? 0) >= version;
    });
  /** Runs an edit; then waits for a table carrying it (its version in the answer or from GET) and for the client's ACK. */
  const edit = async (op: string, body: Record<string, unknown>) => {
    const r = await api(cp, 'POST', `/v1/services/kv/shards/${op}`, body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const version: number =
      r.body.tableVersion ??
      (await waitFor('a table carrying the map', async () => (await shards()).tableVersion ?? undefined));
    await ackedBy(version);
    return r.body;
  };

  beforeAll(async () => {
    ({ cp, client } = await mesh.start({
      controlPlane: { auth: { adminToken: ADMIN }, services: { kv: { sharding: SHARDING } } },
      instances: { kv: ['kv-1', 'kv-2', { id: 'kv-3', labels: { shard: 'c' } }] },
      client: { calls: ['kv'] },
    }));
    await ackedBy((await shards()).tableVersion);
  });

  it('routes each key to the owner of its range over HTTP/1.1', async () => {
    await burst({ a: 'kv-1', 'g~': 'kv-1', h: 'kv-2', p: 'kv-2', t: 'kv-3', zz: 'kv-3' }, 5);
  });

  it('routes each key to the owner of its range over HTTP/2 (prior knowledge)', async () => {
    const session = connect(`http://127.0.0.1:${client.outboundPort}`);
    try {
      const ask = (key: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const s = session.request({ ':method': 'GET', ':path': '/item', ':authority': 'kv', 'x-key': key });
          let body = '';
          let status = 0;
          s.on('response', (h) => (status = Number(h[':status'])));
          s.on('data', (d: Buffer) => (body += d.toString()));
          s.on('end', () => resolve({ status, body }));
          s.on('error', reject);
          s.end();
        });
      for (const [key, owner] of Object.entries({ b: 'kv-1', k: 'kv-2', x: 'kv-3' })) {
        const a = await ask(key);
        expect(a.status, a.body).toBe(200);
        expect(JSON.parse(a.body).instance).toBe(owner);
      }
      const gap = await ask('r');
      expect(gap.status).toBe(404);
      expect(JSON.parse(gap.body).error.code).toBe('MESHLET_SHARD_KEY_UNROUTABLE');
    } finally {
      session.close();
    }
  });

  it('answers a key in no range with a JSON 404 naming the key, the service and the map version', async () => {
    const a = await get('r');
    expect(a.status).toBe(404);
    expect(a.headers['x-meshlet-error']).toBe('MESHLET_SHARD_KEY_UNROUTABLE');
    const error = a.json().error;
    expect(error).toMatchObject({ code: 'MESHLET_SHARD_KEY_UNROUTABLE', service: 'kv', key: 'r', generation: 0 });
    expect(error.message).toContain('"r"');
    expect(error.message).toContain('service "kv"');
    expect(error.message).toMatch(/generation 0, routing table version \d+/);
    expect(error.tableVersion).toBeGreaterThan(0);
  });

  it('answers a request without its key with a JSON 400 saying which key to send', async () => {
    const a = await get(undefined);
    expect(a.status).toBe(400);
    expect(a.json().error).toMatchObject({
      code: 'MESHLET_SHARD_KEY_INVALID',
      service: 'kv',
      shardKey: 'header "x-key"',
    });
    expect(a.json().error.message).toContain('header "x-key"');
  });

  it('huge shard key header gets a clear 400 and routing goes on', async () => {
    // Over the 1024-character key limit, under node's header limit: refused by the agent, not echoed back.
    const huge = 'k'.repeat(8000);
    const a = await get(huge);
    expect(a.status).toBe(400);
    expect(a.json().error.code).toBe('MESHLET_SHARD_KEY_INVALID');
    expect(a.json().error.message).toContain('8000 characters long, over the limit of 1024');
    expect(a.body).not.toContain(huge);
    // Over node's header limit: node's own 431, and the agent stays up.
    const over = await get('k'.repeat(20_000));
    expect([400, 431]).toContain(over.status);
    expect(await ownerOf('a')).toBe('kv-1');
  });

  it('odd characters and a repeated header in the shard key do not crash routing', async () => {
    // Quotes, a backslash, percent signs, tabs, UTF-8: each routed by its order, or in no range.
    const utf8 = (k: string) => Buffer.from(k, 'utf8').toString('latin1'); // node sends header strings as Latin-1
    for (const key of ['"}{\\', '%00%zz', 'a\tb', '../../etc', utf8('ö'), utf8('日本')]) {
      const a = await get(key);
      expect([200, 404], `${JSON.stringify(key)}: ${a.body}`).toContain(a.status);
      if (a.status === 404) expect(a.json().error.code).toBe('MESHLET_SHARD_KEY_UNROUTABLE');
    }
    // The shard API's ?key= (UTF-8) and a request carrying the key's UTF-8 bytes in the header name the same owner.
    const asked = await httpRequest(client.adminPort, `/v1/shards/kv?key=${encodeURIComponent('ö')}`);
    expect(asked.status, asked.body).toBe(200);
    expect(asked.json().members).toContain(await ownerOf(utf8('ö')));
    // Latin-1 bytes that are not UTF-8 (0xFF, a lone 0xA0): refused, not routed under another reading of the bytes.
    for (const key of ['ÿÿÿ', '\u00a0']) {
      const a = await get(key);
      expect(a.status, a.body).toBe(400);
      expect(a.json().error.message).toContain('not valid UTF-8');
    }
    // An empty key is no key (node trims a header value: a space is empty too).
    for (const key of ['', ' ']) {
      const empty = await get(key);
      expect(empty.status, empty.body).toBe(400);
      expect(empty.json().error.code).toBe('MESHLET_SHARD_KEY_INVALID');
    }
    // Two x-key headers: refused rather than one of them picked (a hop in front might pick the other).
    const twice = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      import('node:net').then(({ connect: tcp }) => {
        const s = tcp(client.outboundPort as number, '127.0.0.1', () =>
          s.write('GET http://kv/item HTTP/1.1\r\nHost: kv\r\nx-key: a\r\nx-key: p\r\nConnection: close\r\n\r\n'),
        );
        let raw = '';
        s.on('data', (d) => (raw += d.toString()));
        s.on('end', () => resolve({ status: Number(raw.split(' ')[1]), body: raw }));
        s.on('error', reject);
      }, reject);
    });
    expect(twice.status).toBe(400);
    expect(twice.body).toContain('MESHLET_SHARD_KEY_INVALID');
    expect(twice.body).toContain('repeated');
    expect(await ownerOf('p')).toBe('kv-2');
  });

  it('a split and a move reroute requests; after the ACK no request reaches a former owner', async () => {
    const before = await shards();
    expect(before).toMatchObject({ service: 'kv', source: 'config', resourceVersion: '0', generation: 0 });
    expect(before.warnings).toBeUndefined();
    // Split [-inf, h) at "d": the upper half [d, h) goes to kv-2.
    const split = await edit('split', { at: 'd', instance: 'kv-2', resourceVersion: before.resourceVersion });
    expect(split.generation).toBe(1);
    expect(split.ranges.slice(0, 2)).toEqual([
      { to: 'd', instance: 'kv-1' },
      { from: 'd', to: 'h', instance: 'kv-2' },
    ]);
    await burst({ a: 'kv-1', c: 'kv-1', d: 'kv-2', e: 'kv-2', 'g~': 'kv-2', h: 'kv-2' });
    // Move [h, q) to kv-3.
    const moved = await edit('move', { from: 'h', to: { instance: 'kv-3' }, resourceVersion: split.resourceVersion });
    expect(moved.generation).toBe(2);
    await burst({ c: 'kv-1', e: 'kv-2', h: 'kv-3', m: 'kv-3', p: 'kv-3', t: 'kv-3' });
  });

  it('refuses an edit based on a stale resourceVersion with 409', async () => {
    const current = await shards();
    const stale = await api(cp, 'POST', '/v1/services/kv/shards/split', { at: 'b', resourceVersion: '1' });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'MESHLET_CONFLICT', field: 'resourceVersion' });
    expect(stale.body.error.message).toContain(`is at ${current.resourceVersion}`);
    expect((await shards()).generation).toBe(current.generation);
  });

  it('merges only ranges of one owner, and records every change as an event with who did it', async () => {
    const s = await shards();
    const refused = await api(cp, 'POST', '/v1/services/kv/shards/merge', {
      at: 'd',
      resourceVersion: s.resourceVersion,
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain('different owners');
    const moved = await edit('move', { from: 'd', to: { instance: 'kv-1' }, resourceVersion: s.resourceVersion });
    const merged = await edit('merge', { at: 'd', resourceVersion: moved.resourceVersion });
    expect(merged.ranges[0]).toEqual({ to: 'h', instance: 'kv-1' });
    await burst({ a: 'kv-1', e: 'kv-1', m: 'kv-3' }, 5);
    const events = await api(cp, 'GET', '/v1/events?kind=sharding&service=kv');
    expect(events.status).toBe(200);
    const items = events.body.items ?? events.body.events ?? events.body;
    const ops = items.map((e: { evidence: { operation: string; by: string } }) => e.evidence.operation);
    expect(ops).toEqual(expect.arrayContaining(['split', 'move', 'merge']));
    const last = items.find((e: { evidence: { operation: string } }) => e.evidence.operation === 'merge');
    expect(last).toMatchObject({ kind: 'sharding', service: 'kv', evidence: { by: 'auth.adminToken' } });
    expect(last.evidence.before).toHaveLength(4);
    expect(last.evidence.after).toHaveLength(3);
  });

  it('meshctl shows the map and moves a range under the resourceVersion check', async () => {
    const env = { MESHCTL_SERVER: cp.url, MESHCTL_TOKEN: ADMIN };
    const home = mesh.scratch.dir;
    const shown = await meshctl(['shards', 'kv'], { env, home });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/0\s+-inf\s+"h"\s+instance\/kv-1/);
    const { resourceVersion } = await shards();
    const stale = await meshctl(['shards', 'move', 'kv', '--first', '--instance', 'kv-2', '--resource-version', '1'], {
      env,
      home,
    });
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('409 MESHLET_CONFLICT');
    const moved = await meshctl(
      ['shards', 'move', 'kv', '--first', '--instance', 'kv-2', '--resource-version', resourceVersion],
      { env, home },
    );
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout).toMatch(/0\s+-inf\s+"h"\s+instance\/kv-2/);
    const version = await waitFor('a table carrying the map', async () => (await shards()).tableVersion ?? undefined);
    await ackedBy(version);
    await burst({ a: 'kv-2', g: 'kv-2', m: 'kv-3' }, 5);
  });

  it('refuses invalid maps through the API naming the field and the fix', async () => {
    const put = (sharding: unknown) => api(cp, 'PUT', '/v1/policies/other', { policy: { sharding } });
    const overlap = await put({
      kind: 'range',
      key: { query: 'id' },
      ranges: [
        { from: 'a', to: 'm', instance: 'x' },
        { from: 'k', instance: 'y' },
      ],
    });
    expect(overlap.status).toBe(400);
    expect(overlap.body.error).toMatchObject({ code: 'MESHLET_API_INVALID', field: 'policy.sharding.ranges.1.from' });
    expect(overlap.body.error.issues[0].fix).toContain('sort the ranges');
    const integers = await put({
      kind: 'range',
      key: { pathSegment: 0 },
      compare: 'integer',
      ranges: [{ from: 'abc', instance: 'x' }],
    });
    expect(integers.body.error.field).toBe('policy.sharding.ranges.0.from');
    const owners = await put({ kind: 'range', key: { header: 'k' }, ranges: [{ instance: 'x', subset: { a: 'b' } }] });
    expect(owners.body.error.field).toBe('policy.sharding.ranges.0');
    expect(owners.body.error.issues[0].fix).toContain('exactly one of instance');
    const noMap = await api(cp, 'GET', '/v1/services/other/shards');
    expect(noMap.status).toBe(404);
  });

  it('refuses an invalid map in the config file at start, naming the field', () => {
    const file = mesh.scratch.config('cp-bad-sharding', {
      listen: { host: '127.0.0.1', port: 1 },
      services: {
        kv: { sharding: { kind: 'range', key: { header: 'k' }, ranges: [{ from: 'b', to: 'a', instance: 'x' }] } },
      },
    });
    const r = spawnSync(process.execPath, [CP_BIN, '--config', file], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('services.kv.sharding.ranges.0.to');
    expect(r.stderr).toContain('make to greater than from');
  });
  it("the shard API on the caller's agent names the instance a request reaches, before and after a move, and its stream reports the move", async () => {
    const port = client.adminPort;
    const ask = async (key: string) => {
      const a = await httpRequest(port, `/v1/shards/kv?key=${encodeURIComponent(key)}`);
      expect(a.status, a.body).toBe(200);
      return a.json();
    };
    const s = await shards();
    const first = s.ranges[0];
    expect(first.from).toBeUndefined();
    expect(first.to > 'b').toBe(true);
    const old: string = first.instance;
    const next = old === 'kv-1' ? 'kv-2' : 'kv-1';
    const keys = ['a', 'b'];
    for (const key of keys) {
      const answer = await ask(key);
      expect(answer).toMatchObject({ kind: 'range', owner: { instanceId: old }, routedTo: old, index: 0 });
      expect(answer.map.version).toBe(s.generation);
      expect(await ownerOf(key)).toBe(answer.owner.instanceId);
    }
    // A key in no range: the shard API answers as the data path does.
    const gap = await httpRequest(port, '/v1/shards/kv?key=r');
    expect(gap.status).toBe(404);
    expect(gap.json().error).toMatchObject({ code: 'MESHLET_SHARD_KEY_UNROUTABLE', key: 'r', service: 'kv' });
    expect((await get('r')).json().error.code).toBe('MESHLET_SHARD_KEY_UNROUTABLE');

    const stream = await openSse(port, '/v1/shards/kv/events?keys=a,m');
    try {
      await waitFor('the map event', () => stream.events.length > 0);
      expect(stream.events[0]).toMatchObject({
        event: 'map',
        data: { kind: 'range', version: s.generation, keys: [{ key: 'a', owner: old }, { key: 'm' }] },
      });
      const moved = await edit('move', { from: null, to: { instance: next }, resourceVersion: s.resourceVersion });
      // The caller's agent ACKed the table carrying the move: the API and the data path agree on the new owner.
      for (const key of keys) {
        const answer = await ask(key);
        expect(answer).toMatchObject({
          owner: { instanceId: next },
          routedTo: next,
          map: { version: moved.generation },
        });
        expect(await ownerOf(key)).toBe(next);
      }
      await burst({ a: next, b: next }, 5);
      const event = await waitFor('the moved event', () => stream.events.find((e) => e.event === 'moved'));
      expect(event.data).toMatchObject({
        service: 'kv',
        from: { kind: 'range', version: s.generation },
        to: { kind: 'range', version: moved.generation },
        moves: [{ start: null, end: first.to, from: old, to: next }],
        keys: [{ key: 'a', from: old, to: next }],
      });
    } finally {
      stream.close();
    }
  });
});
