import { defineConfig } from 'vitest/config';

// One root config, one project per layer: fast unit tests beside the code,
// and end-to-end tests in test/ that start real processes on loopback. The
// end-to-end files run one at a time: they start many processes each, and
// the machine has two cores.
export default defineConfig({
  test: {
    reporters: ['default', ['junit', { outputFile: 'test-results/junit.xml' }]],
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'shared/src/**/*.test.ts',
            'agent/src/**/*.test.ts',
            'control-plane/src/**/*.test.ts',
            'cli/src/**/*.test.ts',
          ],
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
