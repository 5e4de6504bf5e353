import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/**
 * Writes config files for the calling test file, each in a directory of its
 * own, all removed after its tests: `yamlFile(text)` gives the file's path.
 */
export function useYamlFiles(): (text: string) => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return (text) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshlet-cfg-'));
    dirs.push(dir);
    const file = join(dir, 'meshlet.yaml');
    writeFileSync(file, text);
    return file;
  };
}
