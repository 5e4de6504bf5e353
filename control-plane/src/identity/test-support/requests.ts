import { execFile } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CryptoKeyPair,
  ECDSA_SHA256,
  formatSpiffeId,
  generateEcdsaKeyPair,
  instanceCommonName,
  x509,
} from '@meshlet/shared/identity';

/** What a test request asks for; by default a good request of `orders-1` for `orders`. */
export interface TestRequest {
  service?: string;
  trustDomain?: string;
  instanceId?: string;
  /** The subject CN as given, instead of the instance's CN form. */
  commonName?: string;
  /** The SANs, instead of the one SPIFFE URI. */
  names?: x509.JsonGeneralNames;
  keys?: CryptoKeyPair;
  algorithm?: typeof ECDSA_SHA256 | RsaHashedKeyGenParams;
}

interface RsaHashedKeyGenParams {
  name: 'RSASSA-PKCS1-v1_5';
  hash: 'SHA-256';
  modulusLength: number;
  publicExponent: Uint8Array;
}

/**
 * A certificate signing request made the way a misbehaving or foreign client
 * could make one (an agent's own requests come from agent/src/identity).
 */
export async function makeRequest(request: TestRequest = {}): Promise<{ pem: string; keys: CryptoKeyPair }> {
  const rsa = request.algorithm?.name === 'RSASSA-PKCS1-v1_5';
  const keys =
    request.keys ??
    (rsa
      ? await webcrypto.subtle.generateKey(request.algorithm as RsaHashedKeyGenParams, true, ['sign', 'verify'])
      : await generateEcdsaKeyPair());
  const uri = formatSpiffeId({
    trustDomain: request.trustDomain ?? 'meshlet.local',
    service: request.service ?? 'orders',
  });
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [request.commonName ?? instanceCommonName(uri, request.instanceId ?? 'orders-1')] }],
    keys,
    signingAlgorithm: request.algorithm ?? ECDSA_SHA256,
    extensions: [new x509.SubjectAlternativeNameExtension(request.names ?? [{ type: 'url', value: uri }])],
  });
  return { pem: csr.toString('pem'), keys };
}

/**
 * `openssl verify -CAfile root -untrusted chain leaf` on PEM texts written
 * into `dir`: the exit status and output of the real OpenSSL CLI.
 */
export async function opensslVerify(
  dir: string,
  pems: { roots: string[]; chain: string[]; leaf: string },
  extraArgs: string[] = [],
): Promise<{ ok: boolean; output: string }> {
  await writeFile(join(dir, 'verify-root.pem'), pems.roots.join('\n'));
  await writeFile(join(dir, 'verify-chain.pem'), pems.chain.join('\n'));
  await writeFile(join(dir, 'verify-leaf.pem'), pems.leaf);
  const args = [
    'verify',
    ...extraArgs,
    '-CAfile',
    'verify-root.pem',
    '-untrusted',
    'verify-chain.pem',
    'verify-leaf.pem',
  ];
  return new Promise((resolve) => {
    execFile('openssl', args, { cwd: dir }, (error, stdout, stderr) => {
      resolve({ ok: error === null, output: `${stdout}${stderr}` });
    });
  });
}
