import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessGroup } from '../../../bench/lib/process-group.mjs';

/**
 * What a database proof runs in: a scratch dir the `postgres` user can
 * reach into (PostgreSQL refuses to run as root; its data dirs live inside),
 * a process group for every server and agent the test starts, and `stop()`
 * for afterAll (stops them all, removes the dir). `lines` keeps what the
 * paths log, for a failure's message.
 */
export class DbScratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'meshlet-db-'));
  readonly group = new ProcessGroup();
  readonly lines: string[] = [];
  readonly log = (s: string): void => {
    this.lines.push(s);
  };

  constructor() {
    chmodSync(this.dir, 0o711);
  }

  /** Stops every process (SIGTERM, SIGKILL after a grace) and removes the dir. */
  async stop(): Promise<void> {
    await this.group.stopAll(3000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
