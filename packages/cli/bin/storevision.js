#!/usr/bin/env node
// The `storevision` command. Sources are TypeScript run through tsx's loader (no build step);
// registering it with --import also makes it apply to worker threads the services start.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
// Resolved from this file, so the command works from any working directory.
const tsx = import.meta.resolve('tsx');
if (process.env.STOREVISION_TSX_LOADED) {
  await import(main);
} else {
  const r = spawnSync(process.execPath, ['--import', tsx, main, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, STOREVISION_TSX_LOADED: '1' },
  });
  process.exit(r.status ?? (r.signal ? 128 : 1));
}
