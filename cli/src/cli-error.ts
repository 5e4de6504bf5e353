import { MeshletError } from '@meshlet/shared/errors';

/**
 * Stable codes of the errors `meshctl` reports, listed in `docs/errors.md`
 * (`test/errors-doc.test.ts` fails when one is missing there). They sort every failure into
 * "fix the command line or a file" (exit 2) and "the request failed" (exit 1).
 */
export const CliErrorCodes = {
  /** The command line is wrong: unknown command or option, missing or extra argument, bad value. */
  USAGE: 'MESHLET_CLI_USAGE',
  /** The meshctl config file (`--config`, `MESHCTL_CONFIG`, `~/.config/meshctl/config.yaml`) cannot be read or is invalid. */
  CONFIG: 'MESHLET_CLI_CONFIG',
  /** An input file (`apply -f`, `restore -f`, `--ca-file`) cannot be read or is not what the command needs, or an output file cannot be written. */
  FILE: 'MESHLET_CLI_FILE',
  /** The control plane cannot be reached: refused, unknown host, timeout, TLS failure. */
  UNREACHABLE: 'MESHLET_CLI_UNREACHABLE',
  /** The control plane refused the token (401), or its role (403), or too many wrong tokens came from this address (429). */
  AUTH: 'MESHLET_CLI_AUTH',
  /** The control plane answered with an error (400, 404, 409, 413, 429, 5xx); its code and message are shown. */
  API: 'MESHLET_CLI_API',
  /** The control plane answered something meshctl cannot read (not JSON, or not the documented shape). */
  BAD_ANSWER: 'MESHLET_CLI_BAD_ANSWER',
  /** meshctl stopped waiting for something that goes on without it (a root rotation past `--wait`). */
  STILL_WAITING: 'MESHLET_CLI_STILL_WAITING',
} as const;

/** One of {@link CliErrorCodes}. */
export type CliErrorCode = (typeof CliErrorCodes)[keyof typeof CliErrorCodes];

/** Exit status of meshctl: 0 success, 1 the request failed, 2 the command line or an input file is wrong. */
export const ExitCodes = { OK: 0, FAILED: 1, USAGE: 2 } as const;

const USAGE_CODES: ReadonlySet<CliErrorCode> = new Set([CliErrorCodes.USAGE, CliErrorCodes.CONFIG, CliErrorCodes.FILE]);

/**
 * A failure meshctl reports as one line on stderr and an exit status; the
 * message says what to do. A {@link MeshletError} like every meshlet error,
 * with a code of its own (`MESHLET_CLI_*`) and, when the control plane
 * answered, its status and code.
 */
export class CliError extends MeshletError {
  /** Stable `MESHLET_CLI_*` code. */
  declare readonly code: CliErrorCode;
  /** HTTP status of the control plane's answer, when there was one. */
  readonly status: number | undefined;
  /** The control plane's own `MESHLET_*` code, when it sent one. */
  readonly apiCode: string | undefined;

  constructor(
    code: CliErrorCode,
    message: string,
    options: { cause?: unknown; status?: number; apiCode?: string } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.status = options.status;
    this.apiCode = options.apiCode;
  }

  /** The process exit status for this error. */
  get exitCode(): number {
    return USAGE_CODES.has(this.code) ? ExitCodes.USAGE : ExitCodes.FAILED;
  }
}

/** Shorthand for a usage error that points at the command's help. */
export function usageError(message: string, command?: string): CliError {
  const help = command ? `meshctl ${command} --help` : 'meshctl --help';
  return new CliError(CliErrorCodes.USAGE, `${message} (see ${help})`);
}
