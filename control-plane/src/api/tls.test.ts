import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkTls, httpsOptions } from './tls.js';

const dir = mkdtempSync(join(tmpdir(), 'meshlet-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('checkTls', () => {
  it('wants a certificate and its key together, or neither', () => {
    expect(checkTls({})).toEqual([]);
    expect(checkTls({ certFile: 'c.pem', keyFile: 'k.pem', caFile: 'ca.pem' })).toEqual([]);
    expect(checkTls({ certFile: 'c.pem' }).map((i) => i.path)).toEqual(['tls.keyFile']);
    expect(checkTls({ keyFile: 'k.pem' }).map((i) => i.path)).toEqual(['tls.certFile']);
    expect(checkTls({ caFile: 'ca.pem' }).map((i) => i.path)).toEqual(['tls.caFile']);
  });
});

describe('httpsOptions', () => {
  it('is undefined without TLS settings', async () => {
    expect(await httpsOptions({})).toBeUndefined();
  });

  it('refuses half a pair', async () => {
    await expect(httpsOptions({ certFile: 'c.pem' })).rejects.toMatchObject({
      code: 'MESHLET_CONFIG_INVALID',
      message: expect.stringContaining('tls.keyFile: is required with tls.certFile'),
    });
  });

  it('names the setting and the path of a file it cannot read', async () => {
    const cert = join(dir, 'cert.pem');
    writeFileSync(cert, 'x');
    const key = join(dir, 'missing-key.pem');
    await expect(httpsOptions({ certFile: cert, keyFile: key })).rejects.toMatchObject({
      code: 'MESHLET_CONFIG_UNREADABLE',
      message: expect.stringContaining(`cannot read tls.keyFile ${key}`),
    });
  });

  it('names both settings when the files are not a PEM certificate and its key', async () => {
    const cert = join(dir, 'junk-cert.pem');
    const key = join(dir, 'junk-key.pem');
    writeFileSync(cert, 'not a certificate');
    writeFileSync(key, 'not a key');
    await expect(httpsOptions({ certFile: cert, keyFile: key })).rejects.toMatchObject({
      code: 'MESHLET_CONFIG_INVALID',
      message: expect.stringContaining(`tls.certFile ${cert} and tls.keyFile ${key} cannot be used together`),
    });
  });
});
