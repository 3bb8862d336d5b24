/**
 * The store and cloud of the fault tests (`platform-faults.int.test.ts`). The platform itself, the
 * sequences and the closed-loop players live in packages/cli/src/bench/fault-platform.ts, shared
 * with `storevision bench outage` (the same cloud outage for a simulated hour); here is what only
 * the tests use: the figures file they write.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export * from '../packages/cli/src/bench/fault-platform.ts';

// Figures ------------------------------------------------------------------------------------------

const FIGURES_FILE = fileURLToPath(new URL('../test-results/platform-faults.json', import.meta.url));
const figures: Record<string, unknown> = {};

/** Prints a test's measured figure and keeps it, with the others so far, in test-results/platform-faults.json. */
export function recordFigure(name: string, line: string, data: Record<string, unknown>): void {
  process.stdout.write(`${name}: ${line}\n`);
  figures[name] = { summary: line, ...data, measuredAt: new Date().toISOString() };
  mkdirSync(path.dirname(FIGURES_FILE), { recursive: true });
  writeFileSync(FIGURES_FILE, `${JSON.stringify(figures, null, 2)}\n`);
}

/** Nearest-rank percentile, as the benchmarks report it. */
export { percentile } from '../packages/cli/src/bench/edge-bench-stats.ts';
