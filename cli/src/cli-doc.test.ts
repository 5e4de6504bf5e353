import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CliErrorCodes } from './cli-error.js';
import { COMMANDS } from './run-cli.js';

const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');

describe('docs/cli.md', () => {
  it('lists exactly the error codes meshctl defines', () => {
    const documented = new Set([...doc.matchAll(/^\| `(MESHLET_CLI_[A-Z_]+)`/gm)].map((m) => m[1]));
    const defined = new Set<string>(Object.values(CliErrorCodes));
    expect([...defined].filter((c) => !documented.has(c)), 'codes missing from docs/cli.md').toEqual([]);
    expect([...documented].filter((c) => !defined.has(c as string)), 'codes documented but not defined').toEqual([]);
  });

  it('has a section for every command', () => {
    const headings = [...doc.matchAll(/^### (.+)$/gm)].flatMap((m) => (m[1] as string).split(/, /));
    expect(COMMANDS.map((c) => c.name).filter((n) => !headings.includes(n)), 'commands missing from docs/cli.md').toEqual([]);
  });
});
