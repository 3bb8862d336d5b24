import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** A throwaway PostgreSQL cluster for tests: its own data dir, socket dir and port. */
export interface TestPostgres {
  /** Server version, e.g. `15`. */
  version: string;
  port: number;
  /** Creates an empty database and returns its `postgres://` URL. */
  createDatabase(): Promise<string>;
  /** Stops the server and deletes the cluster. */
  stop(): Promise<void>;
}

const NOT_INSTALLED =
  'PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb). The hub tests run against a real ' +
  'PostgreSQL: run `npm run bootstrap` (it installs the Debian package) or `apt-get install -y postgresql`.';

/** The newest `/usr/lib/postgresql/<v>/bin` holding `initdb` and `postgres`. */
export function findPostgresBin(root = '/usr/lib/postgresql'): { bin: string; version: string } | undefined {
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter(
      (v) =>
        existsSync(path.join(root, v, 'bin', 'initdb')) && existsSync(path.join(root, v, 'bin', 'postgres')),
    )
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  const v = versions[0];
  return v === undefined ? undefined : { bin: path.join(root, v, 'bin'), version: v };
}

/**
 * Starts a private PostgreSQL: `initdb` into a temp dir, then `postgres` on a free port on
 * 127.0.0.1 with its socket in that dir, durability off (a test cluster is thrown away). PostgreSQL
 * refuses to run as root, so as root every step runs as the `postgres` user through `runuser`.
 * Throws (never skips) with the command to run when PostgreSQL is not installed.
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const found = findPostgresBin();
  if (!found) throw new Error(NOT_INSTALLED);
  const asRoot = process.getuid?.() === 0;
  const dir = await mkdtemp(path.join(tmpdir(), 'sv-pg-'));
  const data = path.join(dir, 'data');
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    await chown(dir, uid, gid);
  }
  const cmd = (exe: string, args: string[]): [string, string[]] =>
    asRoot
      ? ['runuser', ['-u', 'postgres', '--', path.join(found.bin, exe), ...args]]
      : [path.join(found.bin, exe), args];

  let server: ChildProcess | undefined;
  const log: string[] = [];
  try {
    await run(...cmd('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']), {
      cwd: dir,
      timeout: 60_000,
    });
    const port = await freePort();
    const [exe, args] = cmd('postgres', [
      '-D',
      data,
      '-k',
      dir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ]);
    server = spawn(exe, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const s of [server.stdout, server.stderr]) s?.on('data', (b: Buffer) => log.push(b.toString()));
    const exited = new Promise<never>((_, reject) =>
      server!.once('exit', (code) =>
        reject(new Error(`postgres exited with ${code}: ${log.join('').slice(-2000)}`)),
      ),
    );
    exited.catch(() => {});
    const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    await Promise.race([waitForServer(adminUrl, 30_000), exited]);
    const srv = server;
    let stopped: Promise<void> | undefined;
    return {
      version: found.version,
      port,
      async createDatabase() {
        const name = `t_${randomBytes(6).toString('hex')}`;
        const client = new pg.Client({ connectionString: adminUrl });
        await client.connect();
        try {
          await client.query(`create database ${name}`);
        } finally {
          await client.end();
        }
        return `postgres://postgres@127.0.0.1:${port}/${name}`;
      },
      stop() {
        stopped ??= (async () => {
          await run(...cmd('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']), { cwd: dir }).catch(
            () => {
              srv.kill('SIGKILL');
            },
          );
          if (srv.exitCode === null && srv.signalCode === null) await new Promise((r) => srv.once('exit', r));
          await rm(dir, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
  } catch (err) {
    server?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function waitForServer(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (err) {
      await client.end().catch(() => {});
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
