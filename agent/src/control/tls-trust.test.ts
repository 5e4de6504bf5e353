import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeTlsFailure, readCaFile } from './tls-trust.js';

const failure = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('describeTlsFailure', () => {
  it('tells an untrusted certificate apart, with or without controlPlane.caFile', () => {
    const err = failure('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate');
    expect(describeTlsFailure(err, false)).toContain('set controlPlane.caFile to the CA that signed it');
    expect(describeTlsFailure(err, true)).toContain('not signed by the CA in controlPlane.caFile');
    expect(
      describeTlsFailure(failure('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'), false),
    ).toContain('SELF_SIGNED_CERT_IN_CHAIN: self-signed certificate in certificate chain');
  });

  it('names a host mismatch, an expired certificate and a server without TLS', () => {
    expect(
      describeTlsFailure(
        failure('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"),
        true,
      ),
    ).toContain('does not name the host of controlPlane.url');
    expect(describeTlsFailure(failure('CERT_HAS_EXPIRED', 'certificate has expired'), true)).toContain('renew it');
    expect(describeTlsFailure(failure('EPROTO', 'wrong version number'), false)).toContain(
      'use a ws:// controlPlane.url',
    );
  });

  it('leaves other errors alone', () => {
    expect(describeTlsFailure(failure('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:15010'), false)).toBeUndefined();
    expect(describeTlsFailure(new Error('Unexpected server response: 401'), false)).toBeUndefined();
  });
});

describe('readCaFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-ca-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the setting and the file when it cannot be read or is not a certificate', async () => {
    const missing = join(dir, 'missing.pem');
    await expect(readCaFile(missing)).rejects.toMatchObject({
      code: 'MESHLET_CONFIG_UNREADABLE',
      message: expect.stringContaining(`controlPlane.caFile ${missing}`),
    });
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate');
    await expect(readCaFile(junk)).rejects.toMatchObject({
      code: 'MESHLET_CONFIG_INVALID',
      message: expect.stringContaining(`controlPlane.caFile ${junk} is not a PEM certificate`),
    });
  });
});
