import { join } from 'node:path';
import { compileValidator, type Logger, readJsonFile, Routes, writeJsonFile } from '@meshlet/shared';

const validateRoutes = compileValidator(Routes);

/**
 * The last accepted routing table on disk, so that an agent restarted while
 * the control plane is away still routes (static stability, as Envoy keeps
 * its last xDS config). A corrupt file is reported and ignored: the agent
 * then waits for the control plane.
 */
export class TableCache {
  readonly #path: string;
  readonly #log: Logger;

  constructor(dataDir: string, log: Logger) {
    this.#path = join(dataDir, 'routing-table.json');
    this.#log = log;
  }

  /** Path of the cache file. */
  get path(): string {
    return this.#path;
  }

  /** The persisted table, or `undefined`. */
  async load(): Promise<Routes | undefined> {
    let raw: unknown;
    try {
      raw = await readJsonFile(this.#path);
    } catch (e) {
      this.#log.warn({ err: (e as Error).message, path: this.#path }, 'ignoring the persisted routing table');
      return undefined;
    }
    if (raw === undefined) return undefined;
    const result = validateRoutes(raw);
    if (!result.ok) {
      this.#log.warn(
        { path: this.#path, issues: result.issues },
        'ignoring a persisted routing table that does not match the schema',
      );
      return undefined;
    }
    return result.value;
  }

  /** Persists a table crash-safely. */
  async save(routes: Routes): Promise<void> {
    await writeJsonFile(this.#path, routes);
  }
}
