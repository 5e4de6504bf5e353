import { AdminClient } from './admin-client.js';
import { CliError, ExitCodes } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import { colorsFor } from './colors.js';
import type { Command, CommandContext } from './command.js';
import { parseCommandLine } from './command-line.js';
import { failbackCommand, failoverCommand, drainCommand, undrainCommand } from './commands/action-commands.js';
import { applyCommand } from './commands/apply-command.js';
import { authzCommand } from './commands/authz-command.js';
import { backupCommand } from './commands/backup-command.js';
import { caCommand } from './commands/ca-command.js';
import { deleteCommand } from './commands/delete-command.js';
import { eventsCommand } from './commands/events-command.js';
import { getCommand } from './commands/get-command.js';
import { releaseCommand } from './commands/release-command.js';
import { switchoverCommand } from './commands/switchover-command.js';
import { restoreCommand } from './commands/restore-command.js';
import { shardsCommand } from './commands/shards-command.js';
import { tokenCommand } from './commands/token-command.js';
import { versionCommand } from './commands/version-command.js';
import { resolveConnection } from './connection.js';
import { commandHelp, generalHelp } from './help.js';
import { sanitize } from './text.js';

/** Every meshctl command, in the order `meshctl --help` lists them. */
export const COMMANDS: readonly Command[] = [
  getCommand,
  applyCommand,
  deleteCommand,
  authzCommand,
  drainCommand,
  undrainCommand,
  failoverCommand,
  failbackCommand,
  releaseCommand,
  switchoverCommand,
  shardsCommand,
  eventsCommand,
  backupCommand,
  restoreCommand,
  tokenCommand,
  caCommand,
  versionCommand,
];

/**
 * Runs one meshctl command line and resolves with the exit status. Every
 * failure is one line on stderr, `meshctl: ...`, and status 1 (the request
 * failed) or 2 (the command line or a file is wrong); only a bug shows a
 * stack trace.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let client: AdminClient | undefined;
  try {
    const line = parseCommandLine(argv, COMMANDS);
    if (line.kind === 'help') {
      io.stdout.write(line.command ? commandHelp(line.command) : generalHelp(COMMANDS));
      return ExitCodes.OK;
    }
    const { values } = line;
    const ctx: CommandContext = {
      io,
      colors: colorsFor(io.stdout, io.env),
      async client() {
        client ??= new AdminClient(
          resolveConnection(
            {
              ...(typeof values.server === 'string' ? { server: values.server } : {}),
              ...(typeof values.token === 'string' ? { token: values.token } : {}),
              ...(typeof values.config === 'string' ? { config: values.config } : {}),
              ...(typeof values['ca-file'] === 'string' ? { caFile: values['ca-file'] } : {}),
            },
            io.env,
            io.homedir,
          ),
        );
        return client;
      },
    };
    return await line.command.run(ctx, line.args, values);
  } catch (e) {
    if (e instanceof CliError) {
      io.stderr.write(`meshctl: ${sanitize(e.message)}\n`);
      return e.exitCode;
    }
    throw e;
  } finally {
    await client?.close().catch(() => undefined);
  }
}
