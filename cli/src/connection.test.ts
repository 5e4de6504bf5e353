import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError, CliErrorCodes } from './cli-error.js';
import { configFilePath, DEFAULT_SERVER, displayUrl, resolveConnection } from './connection.js';

const dir = mkdtempSync(join(tmpdir(), 'meshctl-conn-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function cliError(fn: () => unknown): CliError {
  try {
    fn();
  } catch (e) {
    if (e instanceof CliError) return e;
    throw e;
  }
  throw new Error('expected a CliError');
}

describe('resolveConnection', () => {
  const config = file('config.yaml', 'server: http://from-file:1\ntoken: file-token\n');

  it('takes each setting from the flag, else the environment, else the file, else the default', () => {
    const env = { MESHCTL_SERVER: 'http://from-env:2', MESHCTL_TOKEN: 'env-token', MESHCTL_CONFIG: config };
    expect(resolveConnection({ server: 'http://from-flag:3/', token: 'flag-token' }, env, dir)).toMatchObject({
      server: 'http://from-flag:3',
      serverSource: '--server',
      token: 'flag-token',
      tokenSource: '--token',
    });
    expect(resolveConnection({}, env, dir)).toMatchObject({
      server: 'http://from-env:2',
      serverSource: 'MESHCTL_SERVER',
      token: 'env-token',
      tokenSource: 'MESHCTL_TOKEN',
    });
    expect(resolveConnection({}, { MESHCTL_CONFIG: config }, dir)).toMatchObject({
      server: 'http://from-file:1',
      serverSource: `server: in ${config}`,
      token: 'file-token',
      tokenSource: `token: in ${config}`,
    });
    expect(resolveConnection({}, {}, dir)).toMatchObject({
      server: DEFAULT_SERVER,
      serverSource: 'the default',
      token: undefined,
    });
    // Mixed: the flag's server, the file's token.
    expect(resolveConnection({ server: 'http://x:4', config }, {}, dir)).toMatchObject({
      server: 'http://x:4',
      tokenSource: `token: in ${config}`,
    });
  });

  it('reads the config file named by --config, else MESHCTL_CONFIG, else $XDG_CONFIG_HOME or ~/.config/meshctl/config.yaml', () => {
    expect(configFilePath({ config: '/a.yaml' }, { MESHCTL_CONFIG: '/b.yaml' }, '/home/u')).toEqual({
      file: '/a.yaml',
      explicit: true,
    });
    expect(configFilePath({}, { MESHCTL_CONFIG: '/b.yaml' }, '/home/u')).toEqual({ file: '/b.yaml', explicit: true });
    expect(configFilePath({}, {}, '/home/u')).toEqual({ file: '/home/u/.config/meshctl/config.yaml', explicit: false });
    expect(configFilePath({}, { XDG_CONFIG_HOME: '/xdg' }, '/home/u')).toEqual({
      file: '/xdg/meshctl/config.yaml',
      explicit: false,
    });
    const home = join(dir, 'home');
    mkdirSync(join(home, '.config', 'meshctl'), { recursive: true });
    writeFileSync(join(home, '.config', 'meshctl', 'config.yaml'), 'server: https://home:5\n');
    expect(resolveConnection({}, {}, home).server).toBe('https://home:5');
  });

  it('ignores a missing default file but not a missing file that was named', () => {
    expect(resolveConnection({}, {}, join(dir, 'nobody')).server).toBe(DEFAULT_SERVER);
    const e = cliError(() => resolveConnection({ config: join(dir, 'missing.yaml') }, {}, dir));
    expect(e.code).toBe(CliErrorCodes.CONFIG);
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain(`cannot read the meshctl config file ${join(dir, 'missing.yaml')}`);
  });

  it('refuses a config file with a typo, a non-string value or bad YAML, naming the file and field', () => {
    const typo = file('typo.yaml', 'sever: http://x:1\n');
    expect(cliError(() => resolveConnection({ config: typo }, {}, dir)).message).toBe(
      `the meshctl config file ${typo} has an unknown field "sever"; the fields are server, token, caFile`,
    );
    const num = file('num.yaml', 'token: 12345\n');
    expect(cliError(() => resolveConnection({ config: num }, {}, dir)).message).toContain(
      `token in the meshctl config file ${num} must be a non-empty string`,
    );
    const bad = file('bad.yaml', 'server: [\n');
    expect(cliError(() => resolveConnection({ config: bad }, {}, dir)).message).toMatch(
      new RegExp(`^the meshctl config file ${bad} is not valid YAML: .+`),
    );
    expect(cliError(() => resolveConnection({ config: file('list.yaml', '- a\n') }, {}, dir)).message).toMatch(
      /must be a mapping/,
    );
    expect(resolveConnection({ config: file('empty.yaml', '') }, {}, dir).server).toBe(DEFAULT_SERVER);
  });

  it('refuses a server that is not an http(s) URL, naming where it came from', () => {
    expect(cliError(() => resolveConnection({ server: 'localhost:15010' }, {}, dir)).message).toMatch(
      /from --server must start with http:\/\/ or https:\/\//,
    );
    expect(cliError(() => resolveConnection({}, { MESHCTL_SERVER: 'not a url' }, dir)).message).toMatch(
      /"not a url" from MESHCTL_SERVER is not a URL/,
    );
    const e = cliError(() => resolveConnection({ config: file('ftp.yaml', 'server: ftp://x\n') }, {}, dir));
    expect(e.code).toBe(CliErrorCodes.CONFIG);
  });

  it('refuses a token with a line break without ever showing the token', () => {
    const e = cliError(() => resolveConnection({}, { MESHCTL_TOKEN: 's3cret-value\n' }, dir));
    expect(e.message).toMatch(/the token from MESHCTL_TOKEN contains whitespace or a line break/);
    expect(e.message).not.toContain('s3cret');
  });

  it('reads the CA file from the flag, the environment, or the config file relative to it', () => {
    const ca = file('ca.pem', PEM);
    expect(resolveConnection({ caFile: ca }, {}, dir)).toMatchObject({ caFile: ca, ca: PEM });
    expect(resolveConnection({}, { MESHCTL_CA_FILE: ca }, dir)).toMatchObject({ caFile: ca });
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'sub', 'ca.pem'), PEM);
    const cfg = file('sub/config.yaml', 'caFile: ca.pem\n');
    expect(resolveConnection({ config: cfg }, {}, '/').caFile).toBe(join(dir, 'sub', 'ca.pem'));
    const missing = cliError(() => resolveConnection({ caFile: join(dir, 'nope.pem') }, {}, dir));
    expect(missing.code).toBe(CliErrorCodes.FILE);
    expect(missing.message).toContain(`cannot read the CA file ${join(dir, 'nope.pem')} (from --ca-file)`);
    expect(cliError(() => resolveConnection({ caFile: file('junk.pem', 'hello') }, {}, dir)).message).toMatch(
      /holds no PEM certificate/,
    );
  });
});

describe('displayUrl', () => {
  it('hides credentials in a URL', () => {
    expect(displayUrl('https://user:pw@cp.example:15010/')).toBe('https://***@cp.example:15010');
    expect(displayUrl('http://127.0.0.1:15010')).toBe('http://127.0.0.1:15010');
  });
});
