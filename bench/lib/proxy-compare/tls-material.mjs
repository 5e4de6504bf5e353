// Certificates for the TLS paths of bench/proxy-compare.mjs, made fresh for
// each run into its scratch directory and deleted with it.
//
// - proxyPki(dir): for HAProxy and nginx with TLS on both sides, with the
//   openssl CLI: a root CA (ECDSA P-256), a server certificate for the proxy's
//   frontend, a server certificate for the TLS app (bench/app-1k.mjs --tls)
//   and a client certificate the proxy presents to the app. The server
//   certificates name `localhost` and 127.0.0.1; everything is signed by the
//   one root, which every side is told to trust.
// - meshClientCertificate(root, caDir): a workload certificate from the
//   mesh's own CA (the control plane's generated CA in its data directory,
//   opened with the project's CertificateAuthority), for the load generator
//   of the one-hop mTLS path, which calls an agent's inbound listener as a
//   mesh workload would: `spiffe://meshlet.local/svc/bench-client`.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The service the one-hop mTLS path's load generator is certified as. */
export const BENCH_CLIENT_SERVICE = 'bench-client';

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: 'pipe', timeout: 30_000 });
}

/**
 * Makes the proxies' PKI under `dir/pki` with `openssl` and returns the file
 * paths and PEM contents: `{ caFile, ca, server: {certFile, keyFile, cert,
 * key}, app: {...}, client: {...} }`.
 */
export function proxyPki(dir) {
  const pki = join(dir, 'pki');
  mkdirSync(pki, { recursive: true, mode: 0o700 });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=proxy-compare CA'],
    pki,
  );
  const leaf = (name, cn, ext) => {
    writeFileSync(join(pki, `${name}.ext`), ext);
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], pki);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '2',
        '-sha256',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.pem`,
      ],
      pki,
    );
    // HAProxy's `crt` takes the certificate and its key in one file.
    const bundle = join(pki, `${name}.bundle.pem`);
    writeFileSync(
      bundle,
      readFileSync(join(pki, `${name}.pem`), 'utf8') + readFileSync(join(pki, `${name}.key`), 'utf8'),
    );
    return {
      certFile: join(pki, `${name}.pem`),
      keyFile: join(pki, `${name}.key`),
      bundleFile: bundle,
      cert: readFileSync(join(pki, `${name}.pem`), 'utf8'),
      key: readFileSync(join(pki, `${name}.key`), 'utf8'),
    };
  };
  const serverExt =
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n';
  return {
    caFile: join(pki, 'ca.pem'),
    ca: readFileSync(join(pki, 'ca.pem'), 'utf8'),
    server: leaf('server', 'localhost', serverExt),
    app: leaf('app', 'localhost', serverExt),
    client: leaf(
      'client',
      'proxy-compare proxy',
      'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n',
    ),
  };
}

/**
 * A workload certificate for `bench-client` from the mesh CA the control
 * plane generated in `caDir`, signed by the project's CertificateAuthority
 * (built, in `root`/control-plane/dist) for a key made here. Returns `{ cert,
 * key, ca }` (PEM: leaf and issuer chain, PKCS#8 key, trust bundle) for
 * node:tls and autocannon.
 */
export async function meshClientCertificate(root, caDir) {
  const load = (file) => import(pathToFileURL(join(root, file)).href);
  const { CertificateAuthority } = await load('control-plane/dist/identity/certificate-authority.js');
  const { WorkloadKey } = await load('agent/dist/identity/workload-key.js');
  const ca = await CertificateAuthority.open({ source: { kind: 'generated', dir: caDir }, clock: Date.now });
  const key = await WorkloadKey.generate();
  const instanceId = `${BENCH_CLIENT_SERVICE}-1`;
  const csr = await key.certificateRequest({
    spiffeId: { trustDomain: 'meshlet.local', service: BENCH_CLIENT_SERVICE },
    instanceId,
  });
  const issued = await ca.sign(csr, { service: BENCH_CLIENT_SERVICE, instanceId });
  return { cert: issued.certificateChainPem, key: await key.privateKeyPem(), ca: ca.trustBundle().join('') };
}
