#!/usr/bin/env node
// The `storevision` command. Sources are TypeScript run through tsx's loader (no build step).
// The wrapper re-executes Node with the loader and forwards signals, so `kill <pid>` of this
// process stops the real command (and whatever it started, e.g. an edge's Redis) cleanly.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
if (process.env.STOREVISION_TSX_LOADED) {
  await import(main);
} else {
  // Resolved from this file, so the command works from any working directory.
  const tsx = import.meta.resolve('tsx');
  const child = spawn(process.execPath, ['--import', tsx, main, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, STOREVISION_TSX_LOADED: '1' },
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? 128 + (constants.signals[signal] ?? 15);
  });
}
