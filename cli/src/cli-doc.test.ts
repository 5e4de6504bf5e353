import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from './run-cli.js';

const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');

describe('docs/cli.md', () => {
  it('has a section for every command', () => {
    const headings = [...doc.matchAll(/^### (.+)$/gm)].flatMap((m) => (m[1] as string).split(/, /));
    expect(
      COMMANDS.map((c) => c.name).filter((n) => !headings.includes(n)),
      'commands missing from docs/cli.md',
    ).toEqual([]);
  });
});
