/** Test support for the CLI's hub commands: the real `storevision` binary and a real hub on a free port. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadConfig, type RunningHub, startHub } from '@storevision/model-hub';
import pino from 'pino';

export const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const BIN = join(REPO, 'packages/cli/bin/storevision.js');
export const PERSON_DETECTOR = join(REPO, 'models/person-detector/person-detector.onnx');
export const PERSON_DETECTOR_MANIFEST = join(REPO, 'models/person-detector/manifest.json');
const run = promisify(execFile);

/** Runs `storevision …` as a user would (no hub URL or token from this shell's environment). */
export async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      timeout: 60_000,
      env: { ...process.env, STOREVISION_HUB_TOKEN: '', STOREVISION_HUB_URL: '' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A hub with `adminToken` in a temp folder; `dispose()` stops it and removes the folder. */
export async function startCliTestHub(
  adminToken: string,
): Promise<{ hub: RunningHub; dispose(): Promise<void> }> {
  const work = await mkdtemp(join(tmpdir(), 'sv-cli-hub-'));
  const hub = await startHub(
    loadConfig(
      {},
      { port: 0, host: '127.0.0.1', dataDir: join(work, 'hub'), adminToken, logLevel: 'silent' },
    ),
    { logger: pino({ level: 'silent' }) },
  );
  return {
    hub,
    dispose: async () => {
      await hub.close();
      await rm(work, { recursive: true, force: true });
    },
  };
}
