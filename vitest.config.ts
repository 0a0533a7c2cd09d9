import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { deadlineMs } from './test/src/deadline.ts';

const src = (pkg: string) => fileURLToPath(new URL(`./${pkg}/src/index.ts`, import.meta.url));

// Unit tests import the packages' TypeScript sources directly; integration tests run the built
// programs (dist/) as real processes, so `npm test` builds first.
const alias = {
  '@flotilla/shared': src('shared'),
  '@flotilla/proto': src('proto'),
};

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          // Unit tests first (fast, no processes), then the integration files two at a time.
          sequence: { groupOrder: 0 },
          include: ['{shared,controller,agent,proto}/src/**/*.test.ts', 'scripts/**/*.test.mjs'],
          environment: 'node',
          // Vitest's 5 s, stretched like every deadline of the tests (TEST_DEADLINE_SCALE).
          testTimeout: deadlineMs(5_000),
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/src/**/*.test.ts'],
          environment: 'node',
          // Deadlines for a hung test, not guesses at a slow one: a loaded machine (load average 8-12
          // on two cores) runs the longest cases several times slower than a quiet one.
          testTimeout: deadlineMs(100_000),
          hookTimeout: deadlineMs(60_000),
          // Each file starts its own nats-server, controller and agents; two cores.
          fileParallelism: true,
          maxWorkers: 2,
        },
      },
    ],
  },
});
