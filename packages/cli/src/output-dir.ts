/**
 * Output folders that are either complete or absent: work happens in a hidden sibling folder that
 * is renamed into place at the end, and removed if the command fails or is interrupted.
 */
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CliError } from './errors.ts';

/**
 * `mkdir -p` one level at a time. Node's `mkdir(…, { recursive: true })` never returns for some
 * paths on pseudo file systems (e.g. under /proc), so the missing levels are created one by one.
 */
async function makeParents(dir: string): Promise<void> {
  const missing: string[] = [];
  let cur = dir;
  while (!(await stat(cur).catch(() => null))) {
    missing.unshift(cur);
    const up = dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  for (const d of missing) await mkdir(d);
}

export async function withOutputDir<T>(target: string, work: (tmpDir: string) => Promise<T>): Promise<T> {
  const dir = resolve(target);
  const parent = dirname(dir);
  const existing = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    // ENOTDIR: a parent is a file, so nothing can ever be written there.
    if (err.code === 'ENOTDIR') throw new CliError('CLI_ERR_OUTPUT_UNWRITABLE', `cannot write to ${target}`);
    return null;
  });
  if (existing && !existing.isDirectory())
    throw new CliError('CLI_ERR_OUTPUT_EXISTS', `output path ${target} exists and is not a folder`);
  if (existing && (await readdir(dir)).length > 0)
    throw new CliError(
      'CLI_ERR_OUTPUT_EXISTS',
      `output folder ${target} exists and is not empty; choose another or remove it`,
    );
  try {
    await makeParents(parent);
    await access(parent, constants.W_OK);
  } catch {
    throw new CliError('CLI_ERR_OUTPUT_UNWRITABLE', `cannot write to ${parent}`);
  }
  let tmp: string;
  try {
    tmp = await mkdtemp(join(parent, `.${basename(dir)}.partial-`));
  } catch {
    throw new CliError('CLI_ERR_OUTPUT_UNWRITABLE', `cannot write to ${parent}`);
  }
  const cleanup = () => rm(tmp, { recursive: true, force: true });
  const onSignal = (sig: NodeJS.Signals) => {
    void cleanup().finally(() => process.kill(process.pid, sig));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await work(tmp);
    await rmdir(dir).catch(() => undefined);
    await rename(tmp, dir);
    return result;
  } catch (err) {
    await cleanup();
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
