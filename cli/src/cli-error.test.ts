import { MeshletError } from '@meshlet/shared/errors';
import { describe, expect, it } from 'vitest';
import { CliError, CliErrorCodes, ExitCodes, usageError } from './cli-error.js';

describe('CliError', () => {
  it('is a MeshletError with its MESHLET_CLI_* code, the cause kept', () => {
    const cause = new Error('ECONNREFUSED');
    const e = new CliError(CliErrorCodes.UNREACHABLE, 'cannot reach the control plane', { cause });
    expect(e).toBeInstanceOf(MeshletError);
    expect(e).toMatchObject({
      name: 'CliError',
      code: 'MESHLET_CLI_UNREACHABLE',
      message: 'cannot reach the control plane',
      cause,
    });
  });

  it('exits 2 for the command line, the config file or an input file, and 1 for a failed request', () => {
    expect(
      [CliErrorCodes.USAGE, CliErrorCodes.CONFIG, CliErrorCodes.FILE].map((c) => new CliError(c, 'x').exitCode),
    ).toEqual([ExitCodes.USAGE, ExitCodes.USAGE, ExitCodes.USAGE]);
    expect(
      [CliErrorCodes.UNREACHABLE, CliErrorCodes.AUTH, CliErrorCodes.API, CliErrorCodes.BAD_ANSWER].map(
        (c) => new CliError(c, 'x').exitCode,
      ),
    ).toEqual([1, 1, 1, 1]);
    expect(usageError('no command given').message).toBe('no command given (see meshctl --help)');
  });
});
