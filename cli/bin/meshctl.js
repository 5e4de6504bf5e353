#!/usr/bin/env node
// The `meshctl` bin: runs the built CLI, cli/dist/main.js.
//
// npm links a package's bin at install time only when the file is there, and
// dist/ exists only after a build: with the bin pointing into dist/,
// `npx meshctl` right after `npm ci` found no local meshctl and asked the
// registry (404). This file is committed, so npm always links it. When dist/
// is missing (a fresh clone after `npm ci`), it builds meshctl and what it
// needs (`tsc -b cli`: cli/ and shared/, some seconds) once, with the
// compiler's output on stderr so that stdout stays the command's own; where
// there is no TypeScript compiler (an install without dev dependencies), it
// says what to run. See docs/cli.md, "Install and run".
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const cliDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(cliDir, 'dist', 'main.js');

if (!existsSync(main)) {
  const root = join(cliDir, '..');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) {
    process.stderr.write(
      `meshctl: ${main} is missing and there is no TypeScript compiler to build it: run \`npm ci && npm run build\` in ${root}\n`,
    );
    process.exit(1);
  }
  process.stderr.write(`meshctl: first run since install: building meshctl (tsc -b cli in ${root})...\n`);
  const built = spawnSync(process.execPath, [tsc, '-b', cliDir], { cwd: root, stdio: ['ignore', 2, 2] });
  if (built.status !== 0 || !existsSync(main)) {
    process.stderr.write(`meshctl: the build failed (see above); run \`npm run build\` in ${root} and try again\n`);
    process.exit(1);
  }
}

await import(pathToFileURL(main).href);
