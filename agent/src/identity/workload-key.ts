import { type CryptoKey, type CryptoKeyPair, generateEcdsaKeyPair, privateKeyToPem } from '@meshlet/shared/identity';
import { buildCertificateRequest, type CertificateRequestSubject } from './certificate-request.js';

/**
 * The agent's own key pair (ECDSA P-256), made on the agent and kept there:
 * what leaves is a certificate request, which carries only the public key.
 * The private key is written out only as PEM for the agent's own TLS
 * contexts ({@link WorkloadKey.privateKeyPem}); logging the object shows no
 * key material.
 */
export class WorkloadKey {
  readonly #keys: CryptoKeyPair;

  private constructor(keys: CryptoKeyPair) {
    this.#keys = keys;
  }

  /** A fresh key pair. */
  static async generate(): Promise<WorkloadKey> {
    return new WorkloadKey(await generateEcdsaKeyPair());
  }

  /** The public half, which certificates issued for this key carry. */
  get publicKey(): CryptoKey {
    return this.#keys.publicKey;
  }

  /** A PEM certificate signing request for this key, naming `subject`. */
  certificateRequest(subject: CertificateRequestSubject): Promise<string> {
    return buildCertificateRequest(this.#keys, subject);
  }

  /** The private key as PKCS#8 PEM, for `tls.createSecureContext({ key })` in this process only. */
  privateKeyPem(): Promise<string> {
    return privateKeyToPem(this.#keys.privateKey);
  }

  /** What a log line or `JSON.stringify` shows: the kind of key, never the key. */
  toJSON(): { algorithm: string } {
    return { algorithm: 'ECDSA P-256' };
  }
}
