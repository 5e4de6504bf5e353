import { readFile } from 'node:fs/promises';
import { CliError, CliErrorCodes } from './cli-error.js';
import type { CliIo } from './cli-io.js';

/** Largest input file meshctl reads: far above any policy or snapshot, far below what would hurt. */
const MAX_INPUT_BYTES = 256 * 1024 * 1024;

/** The display name of an input: `stdin` for `-`. */
export function inputName(file: string): string {
  return file === '-' ? 'stdin' : file;
}

/** Reads `file` as UTF-8, or all of stdin for `-`; a failure names the file. */
export async function readInput(file: string, io: CliIo): Promise<string> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of io.stdin) {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      size += b.length;
      if (size > MAX_INPUT_BYTES)
        throw new CliError(CliErrorCodes.FILE, `stdin is larger than ${MAX_INPUT_BYTES} bytes`);
      chunks.push(b);
    }
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (e as Error).message;
    throw new CliError(CliErrorCodes.FILE, `cannot read ${file}: ${why}`, { cause: e });
  }
}

/** Line and column (from 1) of a character offset, for a JSON syntax error. */
export function lineAndColumn(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, col: offset - before.lastIndexOf('\n') };
}

/**
 * Parses JSON, turning a syntax error into one naming the file, line and
 * column (Node reports only an offset).
 */
export function parseJsonFile(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const at = /position (\d+)/.exec(msg);
    const where = at ? (({ line, col }) => `:${line}:${col}`)(lineAndColumn(text, Number(at[1]))) : '';
    const what = msg.replace(/ in JSON at position \d+.*$/, '').replace(/^JSON\.parse: /, '');
    throw new CliError(CliErrorCodes.FILE, `${name}${where}: not valid JSON: ${what}`, { cause: e });
  }
}
