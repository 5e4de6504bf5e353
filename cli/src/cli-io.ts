import type { Clock } from '@meshlet/shared/clock';

/** Where meshctl writes: a stream with what is known of the terminal behind it. */
export interface OutStream {
  write(text: string): unknown;
  /** True when a terminal is attached: tables fit its width and may be coloured. */
  isTTY?: boolean;
  /** Terminal width in columns, when known. */
  columns?: number;
}

/**
 * Everything meshctl takes from its process, passed in so that tests run the
 * whole command line in-process against a local server: the streams, the
 * environment, the home directory, a random source for reconnect jitter, the
 * clock for ages, and the Ctrl-C that ends `events --follow`.
 */
export interface CliIo {
  stdout: OutStream;
  stderr: OutStream;
  stdin: AsyncIterable<Buffer | string>;
  env: Readonly<Record<string, string | undefined>>;
  /** Home directory, for `~/.config/meshctl/config.yaml`. */
  homedir: string;
  /** Uniform random numbers in [0, 1). */
  random: () => number;
  /** The time in ms since the epoch, for ages such as `get cluster`'s SINCE: `systemClock` in the binary. */
  clock: Clock;
  /**
   * Makes Ctrl-C end the command cleanly (status 0) instead of killing the
   * process, and returns the signal it aborts. Only commands that run until
   * interrupted (`events --follow`) call it; Ctrl-C kills any other at once.
   */
  interrupt?: () => AbortSignal;
}
