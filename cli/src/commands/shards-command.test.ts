import { describe, expect, it } from 'vitest';
import { useCannedServer } from '../test-support/cli-harness.js';

const { server, run } = useCannedServer();

const MAP = {
  service: 'kv',
  source: 'api',
  resourceVersion: '21',
  generation: 2,
  tableVersion: 40,
  key: { header: 'x-key' },
  compare: 'string',
  ranges: [
    { to: 'h', instance: 'kv-1' },
    { from: 'h', subset: { shard: 'c' } },
  ],
};

describe('meshctl shards', () => {
  it('shows the ranges of a map, half-open, with its versions', async () => {
    server.routes.set('GET /v1/services/kv/shards', { body: MAP });
    const out = (await run('shards', 'kv')).stdout;
    expect(out).toContain('generation 2 resourceVersion 21 tableVersion 40');
    expect(out).toMatch(/0\s+-inf\s+"h"\s+instance\/kv-1/);
    expect(out).toMatch(/1\s+"h"\s+\+inf\s+subset shard=c/);
    expect((await run('get', 'shards', 'kv')).stdout).toBe(out);
    expect((await run('get', 'shards')).stderr).toContain('get shards needs the SERVICE');
  });

  it('sends split, move and merge with the resourceVersion, as strings', async () => {
    for (const op of ['split', 'move', 'merge'])
      server.routes.set(`POST /v1/services/kv/shards/${op}`, { body: { ...MAP, change: `${op} done` } });
    expect(
      (await run('shards', 'split', 'kv', '--at', '5', '--instance', 'kv-3', '--resource-version', '21')).stdout,
    ).toContain('service/kv split done');
    expect(JSON.parse(server.seen.at(-1)?.body ?? '')).toEqual({ at: '5', instance: 'kv-3', resourceVersion: '21' });
    await run('shards', 'move', 'kv', '--first', '--subset', 'shard=c,zone=a', '--resource-version', '22');
    expect(JSON.parse(server.seen.at(-1)?.body ?? '')).toEqual({
      from: null,
      to: { subset: { shard: 'c', zone: 'a' } },
      resourceVersion: '22',
    });
    await run('shards', 'merge', 'kv', '--at', 'h', '--resource-version', '23');
    expect(JSON.parse(server.seen.at(-1)?.body ?? '')).toEqual({ at: 'h', resourceVersion: '23' });
  });

  it('says what is missing before sending anything', async () => {
    const before = server.seen.length;
    expect((await run('shards', 'split', 'kv', '--at', 'm')).stderr).toContain('needs --resource-version N');
    expect((await run('shards', 'move', 'kv', '--from', 'm', '--resource-version', '1')).stderr).toContain(
      '--instance ID or --subset',
    );
    expect((await run('shards', 'Not A Service')).stderr).toContain('is not a service name');
    expect(server.seen.length).toBe(before);
  });

  it('prints a stale resourceVersion refusal', async () => {
    server.routes.set('POST /v1/services/kv/shards/merge', {
      status: 409,
      body: { error: { code: 'MESHLET_CONFLICT', message: 'resourceVersion 1 is stale', field: 'resourceVersion' } },
    });
    const r = await run('shards', 'merge', 'kv', '--at', 'h', '--resource-version', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('resourceVersion 1 is stale (409 MESHLET_CONFLICT)');
  });
});
