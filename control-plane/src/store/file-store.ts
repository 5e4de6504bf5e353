import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshletError, readJsonFile, writeJsonFile } from '@meshlet/shared';
import { ControlPlaneErrorCodes } from '../errors.js';
import type { Store } from './store.js';

const FORMAT = 'meshlet-store/v1';

interface StoreFile {
  format: typeof FORMAT;
  revision: number;
  data: Record<string, unknown>;
}

/**
 * The embedded store: one JSON document in the data directory, rewritten
 * crash-safely (temp file, fsync, rename) on each change. Writes are
 * serialised so that the file on disk always holds a revision that was
 * acknowledged in order.
 */
export class FileStore implements Store {
  readonly #dir: string;
  readonly #path: string;
  #data: Record<string, unknown> = {};
  #revision = 0;
  #chain: Promise<void> = Promise.resolve();

  constructor(dataDir: string) {
    this.#dir = dataDir;
    this.#path = join(dataDir, 'store.json');
  }

  /** Path of the store file. */
  get path(): string {
    return this.#path;
  }

  async open(): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    let raw: unknown;
    try {
      raw = await readJsonFile(this.#path);
    } catch (e) {
      throw new MeshletError(ControlPlaneErrorCodes.STORE_CORRUPT, (e as Error).message, { cause: e });
    }
    if (raw === undefined) return;
    const file = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<StoreFile>;
    if (
      file.format !== FORMAT ||
      typeof file.revision !== 'number' ||
      typeof file.data !== 'object' ||
      file.data === null ||
      Array.isArray(file.data)
    ) {
      throw new MeshletError(
        ControlPlaneErrorCodes.STORE_CORRUPT,
        `${this.#path} is not a ${FORMAT} file; move it aside (the control plane then starts empty) or restore a backup`,
      );
    }
    this.#data = file.data;
    this.#revision = file.revision;
  }

  get<T>(key: string): T | undefined {
    return this.#data[key] as T | undefined;
  }

  put(key: string, value: unknown): Promise<number> {
    this.#data[key] = value;
    const revision = ++this.#revision;
    const snapshot: StoreFile = { format: FORMAT, revision, data: structuredClone(this.#data) };
    const write = this.#chain.then(() => writeJsonFile(this.#path, snapshot));
    this.#chain = write.catch(() => undefined);
    return write.then(() => revision);
  }

  revision(): number {
    return this.#revision;
  }

  async close(): Promise<void> {
    await this.#chain;
  }
}
