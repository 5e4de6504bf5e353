import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshletError, writePrivateFile } from '@meshlet/shared';
import { ControlPlaneErrorCodes } from '../errors.js';

/** A private key sealed with the {@link StateKey}: AES-256-GCM, base64 each. */
export interface SealedKey {
  iv: string;
  tag: string;
  data: string;
}

/** The file name of a state key made beside a generated CA. */
export const STATE_KEY_FILE = 'state-key';

const caInvalid = (message: string): MeshletError => new MeshletError(ControlPlaneErrorCodes.CA_INVALID, message);

/**
 * The key that seals the CA keys a root rotation keeps in the store (shared
 * by replicas on etcd, carried by backups): AES-256-GCM from Node's own
 * `crypto`, so that what the store and its backups hold is useless without
 * the file. Its `id` (a hash of the key) is stored beside what it sealed, so
 * a replica given another file says so instead of failing to decrypt.
 */
export class StateKey {
  readonly #key: Buffer;
  readonly id: string;

  private constructor(key: Buffer) {
    this.#key = key;
    this.id = createHash('sha256').update('meshlet-ca-state-key').update(key).digest('hex').slice(0, 16);
  }

  /** A key made now and kept nowhere (a CA in memory, whose rotated state dies with it). */
  static ephemeral(): StateKey {
    return new StateKey(randomBytes(32));
  }

  /** Reads `file`: 32 bytes written as base64 or hex (`openssl rand -base64 32`). */
  static async read(file: string, setting: string): Promise<StateKey> {
    let text: string;
    try {
      text = (await readFile(file, 'utf8')).trim();
    } catch (e) {
      throw caInvalid(
        `${setting}: cannot read ${file}: ${(e as Error).message}; make it with: openssl rand -base64 32 > ${file}`,
      );
    }
    const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
    if (key.length !== 32) {
      throw caInvalid(
        `${setting}: ${file} does not hold 32 bytes in base64 or hex; make it with: openssl rand -base64 32 > ${file}`,
      );
    }
    return new StateKey(key);
  }

  /** Reads the key kept in a generated CA's directory, making it (0600) the first time. */
  static async inDirectory(dir: string): Promise<StateKey> {
    const file = join(dir, STATE_KEY_FILE);
    try {
      return await StateKey.read(file, 'identity.ca.dir');
    } catch (e) {
      if ((await readFile(file).catch(() => undefined)) !== undefined) throw e;
    }
    const key = randomBytes(32);
    await writePrivateFile(file, key.toString('base64') + '\n');
    return new StateKey(key);
  }

  /** Seals a private key's PEM. */
  seal(pem: string): SealedKey {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const data = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()]);
    return { iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
  }

  /**
   * An HMAC-SHA256 of `text` under this key, base64: what proves that the
   * rest of a stored state (its roots and issuers, in clear) was written by
   * a holder of the key, not added to the store by someone else.
   */
  mac(text: string): string {
    return createHmac('sha256', this.#key).update('meshlet-ca-state\0').update(text).digest('base64');
  }

  /** Whether `mac` is {@link mac} of `text`, compared in constant time. */
  verify(text: string, mac: string): boolean {
    const expected = Buffer.from(this.mac(text), 'base64');
    const given = Buffer.from(mac, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** Opens what {@link seal} sealed; `MESHLET_CA_INVALID` when it was sealed with another key or altered. */
  open(sealed: SealedKey): string {
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(sealed.iv, 'base64'), {
        authTagLength: 16,
      });
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw caInvalid(
        'a CA key kept in the store cannot be opened with this state key (another identity.ca.stateKeyFile, or the ' +
          'store was altered); give every replica the same state key file',
      );
    }
  }
}
