import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentErrorCodes } from '@meshlet/agent';
import { ControlPlaneErrorCodes } from '@meshlet/control-plane';
import { CliErrorCodes } from '@meshlet/meshctl';
import { SharedErrorCodes } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { ROOT } from './harness/mesh.js';

describe('docs/errors.md', () => {
  it('lists exactly the error codes the source defines', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/^\| `(MESHLET_[A-Z_]+)`/gm)].map((m) => m[1]));
    const defined = new Set<string>([
      ...Object.values(SharedErrorCodes),
      ...Object.values(AgentErrorCodes),
      ...Object.values(ControlPlaneErrorCodes),
      ...Object.values(CliErrorCodes),
    ]);
    expect([...defined].filter((c) => !documented.has(c)), 'codes missing from docs/errors.md').toEqual([]);
    expect([...documented].filter((c) => !defined.has(c as string)), 'codes documented but not defined').toEqual([]);
  });
});
