import { webcrypto } from 'node:crypto';
import { x509 } from './x509.js';

/** A WebCrypto key, as Node's `crypto.webcrypto` makes it. */
export type CryptoKey = webcrypto.CryptoKey;
/** A WebCrypto key pair. */
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/**
 * The one key type of the mesh: ECDSA on P-256 (as Istio, Linkerd and SPIRE
 * use by default), fast to make and to sign with, and understood by every TLS
 * stack.
 */
export const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** The signature algorithm that goes with {@link ECDSA_P256}: ECDSA with SHA-256. */
export const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

/**
 * A fresh ECDSA P-256 key pair. The private key is extractable only so that it
 * can be written as PEM where a TLS stack or a key file needs it; it is never
 * sent anywhere.
 */
export async function generateEcdsaKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify']);
}

/** The private key as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), what `node:tls` and OpenSSL read. */
export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/**
 * Reads a PKCS#8 PEM private key that must be ECDSA P-256; throws a plain
 * Error saying what it is instead, which callers wrap in their own code
 * naming the file.
 */
export async function privateKeyFromPem(pem: string): Promise<CryptoKey> {
  const blocks = x509.PemConverter.decodeWithHeaders(pem).filter((b) => b.type === 'PRIVATE KEY');
  const [block] = blocks;
  if (blocks.length !== 1 || block === undefined) {
    throw new Error('expected exactly one "-----BEGIN PRIVATE KEY-----" block (unencrypted PKCS#8)');
  }
  try {
    return await webcrypto.subtle.importKey('pkcs8', block.rawData, ECDSA_P256, true, ['sign']);
  } catch (e) {
    throw new Error('the key is not an ECDSA P-256 private key', { cause: e });
  }
}

/** Whether `privateKey` is the private half of `publicKey`: a signature by one verifies with the other. */
export async function keysMatch(privateKey: CryptoKey, publicKey: CryptoKey): Promise<boolean> {
  const probe = new TextEncoder().encode('meshlet key match');
  const signature = await webcrypto.subtle.sign(ECDSA_SHA256, privateKey, probe);
  return webcrypto.subtle.verify(ECDSA_SHA256, publicKey, signature, probe);
}
