import { describe, expect, it } from 'vitest';
import { CliError, CliErrorCodes } from './cli-error.js';
import { parseCommandLine } from './command-line.js';
import { COMMANDS } from './run-cli.js';

const parse = (...argv: string[]) => parseCommandLine(argv, COMMANDS);

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).code).toBe(CliErrorCodes.USAGE);
    expect((e as CliError).exitCode).toBe(2);
    return (e as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('parseCommandLine', () => {
  it('finds the command before or after the global options', () => {
    for (const argv of [
      ['--server', 'http://x:1', 'get', 'services', '-o', 'json'],
      ['get', '--server', 'http://x:1', 'services', '-o', 'json'],
      ['get', 'services', '-o=json', '--server=http://x:1'],
    ]) {
      const line = parse(...argv);
      expect(line.kind).toBe('run');
      if (line.kind !== 'run') continue;
      expect(line.command.name).toBe('get');
      expect(line.args).toEqual(['services']);
      expect(line.values).toMatchObject({ server: 'http://x:1', output: 'json' });
    }
  });

  it('takes -f more than once for apply and restore, and - for stdin', () => {
    const line = parse('restore', '-f', 'full.json', '-f', 'inc.json', '--filename', '-');
    expect(line.kind === 'run' && line.values.filename).toEqual(['full.json', 'inc.json', '-']);
  });

  it('gives help for no arguments, --help, help COMMAND and COMMAND --help', () => {
    expect(parse()).toEqual({ kind: 'help', command: undefined });
    expect(parse('--help')).toEqual({ kind: 'help', command: undefined });
    expect(parse('help', 'apply')).toMatchObject({ kind: 'help', command: { name: 'apply' } });
    expect(parse('drain', '-h')).toMatchObject({ kind: 'help', command: { name: 'drain' } });
    // --help wins over a missing argument: asking how to use a command is not a mistake.
    expect(parse('delete', '--help')).toMatchObject({ kind: 'help', command: { name: 'delete' } });
  });

  it('refuses an unknown command, naming the commands', () => {
    expect(usageMessage(() => parse('gte', 'services'))).toMatch(
      /unknown command "gte"; the commands are get, apply, delete/,
    );
  });

  it("refuses an option the command does not take, naming it and the command's help", () => {
    expect(usageMessage(() => parse('get', 'services', '--folow'))).toBe(
      'unknown option --folow for meshctl get (see meshctl get --help)',
    );
    expect(usageMessage(() => parse('apply', '--since', '3', '-f', 'x'))).toMatch(
      /unknown option --since for meshctl apply/,
    );
  });

  it('refuses a missing option value and a value given to a switch', () => {
    expect(usageMessage(() => parse('get', 'services', '--server'))).toMatch(/^--server needs a value/);
    expect(usageMessage(() => parse('events', '--follow=yes'))).toMatch(/^--follow takes no value/);
  });

  it('checks the number of arguments', () => {
    expect(usageMessage(() => parse('get'))).toBe('meshctl get needs RESOURCE (see meshctl get --help)');
    expect(usageMessage(() => parse('drain'))).toBe('meshctl drain needs INSTANCE (see meshctl drain --help)');
    expect(usageMessage(() => parse('delete', 'policy'))).toMatch(/needs policy\|authz\|service NAME/);
    expect(usageMessage(() => parse('drain', 'a', 'b'))).toMatch(/unexpected argument "b"/);
  });
});
