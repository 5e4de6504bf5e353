import { type Store, type StoreChange, writeIfCurrent } from '../store.js';

/** A Store in memory for unit tests: revisions and tombstones like the file store, nothing on disk. */
export class MemoryStore implements Store {
  readonly data = new Map<string, unknown>();
  readonly #revisions = new Map<string, number>();
  readonly #tombstones = new Map<string, number>();
  #revision = 0;

  async open(): Promise<void> {}
  get<T>(key: string): T | undefined {
    return this.data.get(key) as T | undefined;
  }
  modRevision(key: string): number | undefined {
    return this.data.has(key) ? this.#revisions.get(key) : undefined;
  }
  async put(key: string, value: unknown): Promise<number> {
    this.data.set(key, value);
    this.#revisions.set(key, ++this.#revision);
    this.#tombstones.delete(key);
    return this.#revision;
  }
  async delete(key: string): Promise<number> {
    if (!this.data.has(key)) return this.#revision;
    this.data.delete(key);
    this.#revisions.delete(key);
    this.#tombstones.set(key, ++this.#revision);
    return this.#revision;
  }
  async writeIf(key: string, value: unknown, modRevision: number): Promise<number | undefined> {
    return writeIfCurrent(this, key, value, modRevision);
  }
  keys(prefix = ''): string[] {
    return [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
  changesSince(revision: number): StoreChange[] {
    const out: StoreChange[] = [];
    for (const [key, rev] of this.#revisions)
      if (rev > revision) out.push({ key, modRevision: rev, value: this.data.get(key) });
    if (revision > 0)
      for (const [key, rev] of this.#tombstones) if (rev > revision) out.push({ key, modRevision: rev, deleted: true });
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
  revision(): number {
    return this.#revision;
  }
  clusterId(): string {
    return 'memory';
  }
  async close(): Promise<void> {}
}
