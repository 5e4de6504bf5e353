import { configDefaults, defineConfig } from 'vitest/config';

// One root config, one project per layer: fast unit tests beside the code,
// and end-to-end tests in test/ that start real processes on loopback. The
// end-to-end files run one at a time: they start many processes each, and
// the machine has two cores.
const unitTests = [
  'shared/src/**/*.test.ts',
  'agent/src/**/*.test.ts',
  'control-plane/src/**/*.test.ts',
  'cli/src/**/*.test.ts',
];
// Unit test files that replace a module (vi.mock): they need a module graph of their own.
const mockingModules = ['control-plane/src/api/auth.test.ts', 'control-plane/src/ha/etcd-replication.test.ts'];
// Files a run leaves out, in every project (.ci/run's once_only list for the Node 22 and 24 halves), space-separated
// globs. Not vitest's --exclude: a project's own `exclude` replaces the command line's, so the unit project never
// saw it (load-config.fuzz ran again on Node 22, 13 s); negated `include` globs instead broke watch mode (vitest then
// claims every new file for the project).
const leftOut = (process.env.MESHLET_TEST_EXCLUDE ?? '').split(/\s+/).filter(Boolean);
const exclude = [...configDefaults.exclude, ...leftOut];

export default defineConfig({
  test: {
    reporters: ['default', ['junit', { outputFile: 'test-results/junit.xml' }]],
    projects: [
      {
        test: {
          name: 'unit',
          include: unitTests,
          exclude: [...exclude, ...mockingModules],
          // The unit files share one module graph per worker rather than each importing
          // fastify, ws, TypeBox and the packages again: importing was 58 of the 157 s
          // the 223 files took one at a time (a 2-core machine gives vitest one worker).
          // They keep no state between files: timers faked in a file are restored in it,
          // spies are on the file's own objects, servers are on port 0 and closed.
          isolate: false,
        },
      },
      {
        test: { name: 'unit-isolated', include: mockingModules, exclude },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          exclude,
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
