import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { ROOT } from './harness/mesh.js';

// `npm ci` on Node 20 warned EBADENGINE (issue 17): content-disposition@3 and
// cookie@2 want Node >= 22 while the README promised 20.19. The root
// package.json says which Node versions this repository installs and runs on;
// every package the lock installs must accept all of them.

const rootPackage = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  overrides?: Record<string, Record<string, string>>;
};
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: unknown }>;
};

describe('Node versions', () => {
  it("every package in package-lock.json accepts every Node version the root package.json's engines promise", () => {
    const promised = rootPackage.engines.node;
    expect(semver.validRange(promised), promised).not.toBeNull();
    const excluding: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (path === '') continue;
      const node = (entry.engines as { node?: unknown } | undefined)?.node;
      if (node === undefined) continue;
      // A range npm cannot read, or one narrower than the promise, is an EBADENGINE warning on some promised version.
      if (typeof node !== 'string' || semver.validRange(node) === null || !semver.subset(promised, node))
        excluding.push(`${path}@${entry.version ?? '?'} wants node ${JSON.stringify(node)}`);
    }
    expect(excluding, `packages that exclude part of "${promised}"`).toEqual([]);
  });

  it('the README promises what package.json does', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(rootPackage.engines.node).toBe('^20.19.0 || ^22.13.0 || >=24');
    expect(readme).toContain('Needs Node.js 20.19 or newer on 20, 22.13 or newer on 22, or 24 and newer');
  });

  // The overrides put versions that run on Node 20 under their dependents: the calls those make still work.
  it('cookie@1 under light-my-request: fastify inject sends the cookies it is given', async () => {
    expect(rootPackage.overrides?.['light-my-request']).toMatchObject({ cookie: expect.any(String) });
    const app = Fastify();
    app.get('/', async (req) => ({ cookie: req.headers.cookie }));
    const answer = await app.inject({ method: 'GET', url: '/', cookies: { a: '1', b: 'x y' } });
    expect(answer.json()).toEqual({ cookie: 'a=1; b=x%20y' });
    await app.close();
  });

  it('content-disposition@2 under @fastify/static: a download names its file', async () => {
    expect(rootPackage.overrides?.['@fastify/static']).toMatchObject({ 'content-disposition': expect.any(String) });
    const dir = mkdtempSync(join(tmpdir(), 'meshlet-static-'));
    try {
      writeFileSync(join(dir, 'report é.txt'), 'hello');
      const app = Fastify();
      await app.register(fastifyStatic, { root: dir, serve: false });
      app.get('/file', (_req, reply) => reply.download('report é.txt'));
      const answer = await app.inject({ method: 'GET', url: '/file' });
      expect(answer.statusCode).toBe(200);
      expect(answer.body).toBe('hello');
      expect(answer.headers['content-disposition']).toBe(
        'attachment; filename="report ?.txt"; filename*=UTF-8\'\'report%20%C3%A9.txt',
      );
      await app.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
