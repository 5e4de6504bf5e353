import { join } from 'node:path';
import { compileValidator, type Logger, readJsonFile, Routes, writeJsonFile } from '@meshlet/shared';

const validateRoutes = compileValidator(Routes);

/**
 * The least time between two writes of the table: none by default (a table is written as soon as the write
 * before it ended), since a restarted agent installs what is on disk and a stale table there is acted on (a former
 * primary's agent killed and restarted ran its rejoin for a term it had long passed when a second of tables was
 * held back).
 */
export const TABLE_WRITE_INTERVAL_MS = 0;

/**
 * The last accepted routing table on disk, so that an agent restarted while
 * the control plane is away still routes (static stability, as Envoy keeps
 * its last xDS config). A corrupt file is reported and ignored: the agent
 * then waits for the control plane.
 *
 * Writes are coalesced: one write at a time, from a timer rather than inside
 * {@link save} (serialising the whole table, 1 to 2 ms of the event loop for
 * 1000 services, is off the install and its ACK), and the tables accepted
 * while a write runs replace each other, only the latest written next: a
 * burst of deltas costs a couple of writes, not one each (issue 20).
 * {@link flush} writes what waits at once (the agent's stop).
 */
export class TableCache {
  readonly #path: string;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #intervalMs: number;
  #waiting: Routes | undefined;
  #writing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastWrite = Number.NEGATIVE_INFINITY;

  readonly #writeFile: (path: string, routes: Routes) => Promise<void>;

  /** `writeFile` writes one table crash-safely (tests count the writes). */
  constructor(
    dataDir: string,
    log: Logger,
    clock: () => number = Date.now,
    intervalMs = TABLE_WRITE_INTERVAL_MS,
    writeFile: (path: string, routes: Routes) => Promise<void> = writeJsonFile,
  ) {
    this.#path = join(dataDir, 'routing-table.json');
    this.#log = log;
    this.#clock = clock;
    this.#intervalMs = intervalMs;
    this.#writeFile = writeFile;
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

  /**
   * Persists `routes` crash-safely: now, or with the next write when one ran
   * within the interval (a failed write is logged; the table stays in force).
   */
  save(routes: Routes): void {
    this.#waiting = routes;
    this.#schedule();
  }

  /** Writes the table still waiting, if any, and waits for every write to end. */
  async flush(): Promise<void> {
    for (;;) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
      if (this.#writing) await this.#writing;
      else if (this.#waiting) this.#write();
      else return;
    }
  }

  #schedule(): void {
    if (this.#writing || this.#timer || !this.#waiting) return;
    // Never inside save() (serialising the table is off the install and its ACK), and at most the interval away,
    // even when the clock stepped back since the last write (tests set an interval). The timer measured the wait: it writes then, whatever
    // the clock says (a test's clock may stand still).
    const wait = Math.max(0, Math.min(this.#intervalMs, this.#lastWrite + this.#intervalMs - this.#clock()));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#writing && this.#waiting) this.#write();
    }, wait);
    this.#timer.unref();
  }

  #write(): void {
    const routes = this.#waiting as Routes;
    this.#waiting = undefined;
    this.#lastWrite = this.#clock();
    this.#writing = this.#writeFile(this.#path, routes)
      .catch((e: unknown) => {
        this.#log.error({ err: (e as Error).message, path: this.#path }, 'could not persist the routing table');
      })
      .finally(() => {
        this.#writing = undefined;
        this.#schedule();
      });
  }
}
