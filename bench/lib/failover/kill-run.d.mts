// Types of kill-run.mjs, for the database proofs (test/databases/).

/** One run's figures. */
export interface KillRunResult {
  recoveryMs: number;
  failedOver: boolean;
  lost: number;
  staleAcked: number;
  staleWal: number | undefined;
  inFlight: number | undefined;
  acked: number;
  ackedBeforeKill: number;
  queryErrors: number;
  queryErrorsOnNewConnections: number;
  connectErrors: number;
  nextNumber: number;
}

/** One kill of the primary on `path` with the writer running (see kill-run.mjs). */
export declare function killRun(
  path: unknown,
  options: { firstNumber: number; warmupMs?: number; tailMs?: number; recoverTimeoutMs?: number; reset?: boolean },
): Promise<KillRunResult>;
