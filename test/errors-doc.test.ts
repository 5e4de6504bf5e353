import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentErrorCodes, AgentErrors } from '@meshlet/agent';
import { ApiErrors, ControlPlaneErrorCodes } from '@meshlet/control-plane';
import { CliErrorCodes } from '@meshlet/meshctl';
import { SharedErrorCodes } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { ROOT } from './harness/mesh.js';

const readDoc = (): string => readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');

describe('docs/errors.md', () => {
  it('lists exactly the error codes the source defines', () => {
    const doc = readDoc();
    const documented = new Set([...doc.matchAll(/^\| `(MESHLET_[A-Z_]+)`/gm)].map((m) => m[1]));
    const defined = new Set<string>([
      ...Object.values(SharedErrorCodes),
      ...Object.values(AgentErrorCodes),
      ...Object.values(ControlPlaneErrorCodes),
      ...Object.values(CliErrorCodes),
    ]);
    expect(
      [...defined].filter((c) => !documented.has(c)),
      'codes missing from docs/errors.md',
    ).toEqual([]);
    expect(
      [...documented].filter((c) => !defined.has(c as string)),
      'codes documented but not defined',
    ).toEqual([]);
  });

  it('gives each code the HTTP status the source binds to it', () => {
    // The status column: a three-digit status where one is bound; "—" or "configured" otherwise.
    const documented = Object.fromEntries(
      [...readDoc().matchAll(/^\| `(MESHLET_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]),
    );
    const bound = Object.fromEntries(
      [...Object.values(ApiErrors), ...Object.values(AgentErrors)].map((e) => [e.code, e.statusCode]),
    );
    expect(documented).toEqual(bound);
  });
});
