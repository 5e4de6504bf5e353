import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Throw-away certificates for tests, made by the real openssl CLI: a CA, and
// server or client certificates it signs (EC P-256, valid two days).

/** Runs the openssl CLI in `dir`; its stderr on failure. */
export function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as Error & { stderr?: Buffer; code?: string };
    if (err.code === 'ENOENT')
      throw new Error('the openssl CLI is needed to make test certificates (apt-get install openssl)', { cause: e });
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr?.toString() ?? err.message}`, { cause: e });
  }
}

/** A throw-away CA: `${name}.crt` and `${name}.key` in `dir`; the path of its certificate. */
export function makeCa(dir: string, name: string): string {
  writeFileSync(
    join(dir, `${name}.cnf`),
    [
      '[req]',
      'distinguished_name = dn',
      'x509_extensions = v3_ca',
      'prompt = no',
      '[dn]',
      `CN = meshlet test ${name}`,
      '[v3_ca]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-config',
    `${name}.cnf`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
  ]);
  return join(dir, `${name}.crt`);
}

/**
 * A certificate signed by the CA `ca` (made by {@link makeCa} in the same
 * `dir`): `${name}.crt` and `${name}.key`. A server certificate is for
 * 127.0.0.1 and `ips` (IP SANs); a client certificate carries `cn` as its subject.
 */
export function makeCert(
  dir: string,
  ca: string,
  name: string,
  { client = false, cn = '127.0.0.1', ips = [] as string[] } = {},
): { certFile: string; keyFile: string } {
  const ext = client
    ? [
        'basicConstraints = CA:FALSE',
        'keyUsage = critical,digitalSignature',
        'extendedKeyUsage = clientAuth',
        'authorityKeyIdentifier = keyid',
        '',
      ]
    : [
        'basicConstraints = CA:FALSE',
        'keyUsage = critical,digitalSignature',
        'extendedKeyUsage = serverAuth, clientAuth',
        `subjectAltName = ${['127.0.0.1', ...ips].map((ip) => `IP:${ip}`).join(', ')}`,
        'authorityKeyIdentifier = keyid',
        '',
      ];
  writeFileSync(join(dir, `${name}.ext`), ext.join('\n'));
  openssl(dir, [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    `/CN=${cn}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.crt`,
  ]);
  return { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
}
