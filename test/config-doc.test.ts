import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentConfig, ControlPlaneConfig, listSettings } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { ROOT } from './harness/mesh.js';

describe('docs/configuration.md', () => {
  it('documents every setting of both binaries', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/^\| `([a-zA-Z0-9.]+)`/gm)].map((m) => m[1]));
    const settings = [...listSettings(ControlPlaneConfig), ...listSettings(AgentConfig)].map((s) => s.path);
    expect(settings.filter((p) => !documented.has(p))).toEqual([]);
  });
});
