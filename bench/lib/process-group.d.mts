// Types of process-group.mjs, for the TypeScript tests that start a benchmark's paths (test/databases/).

/** A set of child processes stopped together. */
export declare class ProcessGroup {
  start(name: string, command: string, args: readonly string[], options?: object): unknown;
  stopAll(graceMs?: number): Promise<void>;
  killAllSync(): void;
}
