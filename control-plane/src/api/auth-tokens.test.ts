import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type AuthConfig, checkAuth, parseTokensFile, tokensFromConfig } from './auth-tokens.js';

const dir = mkdtempSync(join(tmpdir(), 'meshlet-auth-tokens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const base: AuthConfig = {
  allowInsecureRemote: false,
  allowSharedJoinToken: false,
  allowedHosts: [],
  protectDocs: false,
};
const CI = 'ci-token-3f9a1c7e5b2d8046';
const OPS = 'ops-token-8e2b4d6f0a1c3e57';

describe('parseTokensFile', () => {
  it('reads YAML and JSON lists', () => {
    const yaml = parseTokensFile(
      `- { name: ci, token: ${CI}, role: read-only }\n- name: ops\n  token: ${OPS}\n  role: admin\n`,
    );
    expect(yaml).toEqual({
      tokens: [
        { name: 'ci', token: CI, role: 'read-only' },
        { name: 'ops', token: OPS, role: 'admin' },
      ],
      issues: [],
    });
    expect(parseTokensFile(JSON.stringify([{ name: 'ops', token: OPS, role: 'admin' }])).tokens).toHaveLength(1);
  });

  it('names the entry of a bad field, without its token', () => {
    const { issues } = parseTokensFile(
      `- { name: ci, token: ${CI}, role: reader }\n- { name: ops, token: short, role: admin }\n- { token: ${OPS}, role: admin }\n`,
    );
    expect(issues).toEqual([
      expect.objectContaining({ path: 'entry 1 ("ci").role', fix: 'pick one of the allowed values' }),
      expect.objectContaining({ path: 'entry 2 ("ops").token', problem: 'must be at least 16 characters long' }),
      expect.objectContaining({ path: 'entry 3.name', problem: 'is required but missing' }),
    ]);
    expect(JSON.stringify(issues)).not.toContain(CI);
  });

  it('refuses a file that is not a list, is empty, or is not YAML, without quoting it', () => {
    expect(parseTokensFile(`ci: ${CI}`).issues[0]?.problem).toBe('must be a list');
    expect(parseTokensFile('').issues[0]?.problem).toBe('lists no token');
    expect(parseTokensFile('[]').issues[0]?.problem).toBe('lists no token');
    const bad = parseTokensFile(`- { name: ci, token: "${CI}\n`);
    expect(bad.issues[0]?.problem).toMatch(/^is not valid YAML or JSON at line \d+/);
    expect(JSON.stringify(bad.issues)).not.toContain(CI);
  });
});

describe('tokensFromConfig', () => {
  it('lists the config tokens, then the file entries', async () => {
    const tokensFile = file('ok.yaml', `- { name: ci, token: ${CI}, role: read-only }\n`);
    const tokens = await tokensFromConfig({
      ...base,
      adminToken: OPS,
      readOnlyToken: 'reader-token-0123456789',
      tokensFile,
    });
    expect(tokens.map((t) => [t.name, t.role])).toEqual([
      ['auth.adminToken', 'admin'],
      ['auth.readOnlyToken', 'read-only'],
      ['ci', 'read-only'],
    ]);
    expect(await tokensFromConfig(base)).toEqual([]);
  });

  it('throws naming the file and the entry', async () => {
    const tokensFile = file('bad.yaml', `- { name: ci, token: ${CI}, role: root }\n`);
    await expect(tokensFromConfig({ ...base, tokensFile })).rejects.toThrow(
      `auth.tokensFile ${tokensFile}:\n  - entry 1 ("ci").role: must be one of "admin", "read-only"`,
    );
    await expect(tokensFromConfig({ ...base, tokensFile: join(dir, 'missing.yaml') })).rejects.toMatchObject({
      code: 'MESHLET_CONFIG_UNREADABLE',
      message: expect.stringContaining(`cannot read auth.tokensFile ${join(dir, 'missing.yaml')}`),
    });
  });

  it('refuses one token under two names, two tokens under one name, and the join token reused', async () => {
    const tokensFile = file(
      'dup.yaml',
      `- { name: ci, token: ${CI}, role: read-only }\n- { name: ci, token: ${OPS}, role: admin }\n`,
    );
    const err = await tokensFromConfig({ ...base, adminToken: CI, joinToken: OPS, tokensFile }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toContain(`auth.tokensFile ${tokensFile}, entry 1 ("ci"): is the same token as auth.adminToken`);
    expect(message).toContain(`entry 2 ("ci"): has the name of auth.tokensFile ${tokensFile}, entry 1 ("ci")`);
    expect(message).toContain('entry 2 ("ci"): is the same token as auth.joinToken');
    expect(message).not.toContain(CI);
    expect(message).not.toContain(OPS);
  });
});

describe('checkAuth', () => {
  it('on loopback requires nothing', () => {
    expect(checkAuth(base, undefined)).toEqual([]);
  });

  it('beyond loopback requires a token of role admin (agents need per-service credentials anyway)', () => {
    const paths = (auth: AuthConfig) => checkAuth(auth, '0.0.0.0').map((i) => i.path);
    expect(paths(base)).toEqual(['auth.adminToken']);
    expect(paths({ ...base, readOnlyToken: OPS })).toEqual(['auth.adminToken']);
    expect(paths({ ...base, adminToken: OPS })).toEqual([]);
    const readers = file('readers.yaml', `- { name: ci, token: ${OPS}, role: read-only }\n`);
    expect(paths({ ...base, tokensFile: readers })).toEqual(['auth.adminToken']);
    const admins = file('admins.yaml', `- { name: ops, token: ${OPS}, role: admin }\n`);
    expect(paths({ ...base, tokensFile: admins })).toEqual([]);
  });

  it('refuses the shared join token without auth.allowSharedJoinToken, naming the fix', () => {
    const issues = checkAuth({ ...base, joinToken: CI }, undefined);
    expect(issues).toEqual([
      expect.objectContaining({ path: 'auth.joinToken', fix: expect.stringContaining('allowSharedJoinToken: true') }),
    ]);
    expect(issues[0]?.fix).toContain('meshctl token create --service');
    expect(JSON.stringify(issues)).not.toContain(CI);
    expect(checkAuth({ ...base, joinToken: CI, allowSharedJoinToken: true }, undefined)).toEqual([]);
  });

  it('refuses auth.allowSharedJoinToken without auth.joinToken, naming auth.joinToken', () => {
    expect(checkAuth({ ...base, allowSharedJoinToken: true }, undefined)).toEqual([
      {
        path: 'auth.joinToken',
        problem: 'is not set, but auth.allowSharedJoinToken is true: there is no shared token to allow',
        fix: 'remove auth.allowSharedJoinToken (per-service credentials need no flag), or set auth.joinToken',
      },
    ]);
  });

  it('refuses a shared join token that looks like a credential (mjc_...), which would never match', () => {
    const token = 'mjc_0123456789abcdef_shared';
    const issues = checkAuth({ ...base, joinToken: token, allowSharedJoinToken: true }, undefined);
    expect(issues).toEqual([
      expect.objectContaining({ path: 'auth.joinToken', problem: expect.stringContaining('starts with mjc_') }),
    ]);
    expect(JSON.stringify(issues)).not.toContain(token);
  });

  it('reports a bad or unreadable tokens file with the file and the entry', () => {
    const bad = file('check-bad.yaml', `- { name: ops, token: ${OPS}, role: superuser }\n`);
    expect(checkAuth({ ...base, tokensFile: bad }, undefined)).toEqual([
      {
        path: 'auth.tokensFile',
        problem: `${bad}, entry 1 ("ops").role: must be one of "admin", "read-only"`,
        fix: 'pick one of the allowed values',
      },
    ]);
    const missing = join(dir, 'nope.yaml');
    const issues = checkAuth({ ...base, joinToken: CI, allowSharedJoinToken: true, tokensFile: missing }, '10.0.0.1');
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({
      path: 'auth.tokensFile',
      problem: expect.stringContaining(`cannot read ${missing}`),
    });
  });
});
