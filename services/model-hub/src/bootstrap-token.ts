import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The bootstrap admin token: the configured one, else the one kept in `<dataDir>/admin-token`
 * (mode 0600), generated on first start — so `storevision hub` on a laptop is usable at once and
 * the token survives restarts. It is never written to the database.
 */
export async function loadBootstrapToken(
  configured: string | undefined,
  dataDir: string,
): Promise<{ token: string; file?: string; created: boolean }> {
  if (configured) return { token: configured, created: false };
  const file = path.join(dataDir, 'admin-token');
  try {
    return { token: (await readFile(file, 'utf8')).trim(), file, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dataDir, { recursive: true });
  const token = `svh_admin_${randomBytes(24).toString('base64url')}`;
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${token}\n`, { mode: 0o600 });
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    await rm(tmp, { force: true });
    return { token: (await readFile(file, 'utf8')).trim(), file, created: false };
  }
  await rm(tmp, { force: true });
  return { token, file, created: true };
}
