/**
 * `@meshlet/meshctl`: the command line for the control plane's admin API.
 * The `meshctl` binary is `main.js`; this entry point runs a command line
 * in-process (with the streams, environment and clock passed in) and exports
 * the error codes that `docs/errors.md` lists.
 */
export { CliError, CliErrorCodes, type CliErrorCode, ExitCodes } from './cli-error.js';
export type { CliIo, OutStream } from './cli-io.js';
export { COMMANDS, runCli } from './run-cli.js';
