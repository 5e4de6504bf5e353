import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshletError, readJsonFile, writeJsonFile } from '@meshlet/shared';
import { ControlPlaneErrorCodes } from '../errors.js';
import { isEphemeralKey, type Store, type StoreChange, writeIfCurrent } from './store.js';

const FORMAT = 'meshlet-store/v1';

/**
 * The file: `data` holds the values. `revisions` (the revision that last
 * wrote each key), `tombstones` (deleted keys and the revision that deleted
 * them) and `clusterId` were added later; a file without them is read as if
 * every key was written at the file's revision.
 */
interface StoreFile {
  format: typeof FORMAT;
  revision: number;
  data: Record<string, unknown>;
  revisions?: Record<string, number>;
  tombstones?: Record<string, number>;
  clusterId?: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A map-like object without a prototype, so that keys such as `constructor` or `__proto__` are plain keys. */
function bare<T>(from: Record<string, T> = {}): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, from);
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
  #data: Record<string, unknown> = bare();
  #revisions: Record<string, number> = bare();
  #tombstones: Record<string, number> = bare();
  #revision = 0;
  #clusterId: string = randomUUID();
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
    const file = (isRecord(raw) ? raw : {}) as Partial<StoreFile>;
    if (
      file.format !== FORMAT ||
      typeof file.revision !== 'number' ||
      !isRecord(file.data) ||
      (file.revisions !== undefined && !isRecord(file.revisions)) ||
      (file.tombstones !== undefined && !isRecord(file.tombstones))
    ) {
      throw new MeshletError(
        ControlPlaneErrorCodes.STORE_CORRUPT,
        `${this.#path} is not a ${FORMAT} file; move it aside (the control plane then starts empty) or restore a backup`,
      );
    }
    this.#data = bare(file.data);
    this.#revision = file.revision;
    this.#revisions = bare();
    for (const key of Object.keys(file.data)) this.#revisions[key] = file.revisions?.[key] ?? file.revision;
    this.#tombstones = bare(file.tombstones as Record<string, number> | undefined);
    // Files written before locks left none: drop their lock tombstones.
    for (const key of Object.keys(this.#tombstones)) if (isEphemeralKey(key)) delete this.#tombstones[key];
    if (typeof file.clusterId === 'string' && file.clusterId.length > 0) this.#clusterId = file.clusterId;
  }

  get<T>(key: string): T | undefined {
    return this.#data[key] as T | undefined;
  }

  modRevision(key: string): number | undefined {
    return key in this.#data ? this.#revisions[key] : undefined;
  }

  put(key: string, value: unknown): Promise<number> {
    this.#data[key] = value;
    const revision = ++this.#revision;
    this.#revisions[key] = revision;
    delete this.#tombstones[key];
    return this.#write(revision);
  }

  delete(key: string): Promise<number> {
    if (!(key in this.#data)) return this.#chain.then(() => this.#revision);
    delete this.#data[key];
    delete this.#revisions[key];
    const revision = ++this.#revision;
    if (!isEphemeralKey(key)) this.#tombstones[key] = revision;
    return this.#write(revision);
  }

  async writeIf(key: string, value: unknown, modRevision: number): Promise<number | undefined> {
    return writeIfCurrent(this, key, value, modRevision);
  }

  keys(prefix = ''): string[] {
    return Object.keys(this.#data)
      .filter((k) => k.startsWith(prefix))
      .sort();
  }

  changesSince(revision: number): StoreChange[] {
    const out: StoreChange[] = [];
    for (const [key, rev] of Object.entries(this.#revisions))
      if (rev > revision) out.push({ key, modRevision: rev, value: this.#data[key] });
    if (revision > 0)
      for (const [key, rev] of Object.entries(this.#tombstones))
        if (rev > revision) out.push({ key, modRevision: rev, deleted: true });
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  revision(): number {
    return this.#revision;
  }

  /** The `cluster` key's id when the control plane has set it (a restore brings the backup's), else the store's own. */
  clusterId(): string {
    const c = this.#data.cluster;
    return isRecord(c) && typeof c.id === 'string' && c.id.length > 0 ? c.id : this.#clusterId;
  }

  async close(): Promise<void> {
    await this.#chain;
  }

  #write(revision: number): Promise<number> {
    const snapshot: StoreFile = {
      format: FORMAT,
      revision,
      data: structuredClone({ ...this.#data }),
      revisions: { ...this.#revisions },
      tombstones: { ...this.#tombstones },
      clusterId: this.#clusterId,
    };
    const write = this.#chain.then(() => writeJsonFile(this.#path, snapshot));
    this.#chain = write.catch(() => undefined);
    return write.then(() => revision);
  }
}
