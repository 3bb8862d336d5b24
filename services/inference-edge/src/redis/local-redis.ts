import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';

/**
 * A `redis-server` (Debian's `redis-server` package) started and stopped by this process: the
 * edge's embedded default when no `--redis-url` is given (AOF on, in the data folder), and every
 * integration test's own Redis (no persistence, a temp folder, a free port).
 */
export interface LocalRedisOptions {
  /** Working folder (AOF lives here when `persistence` is on). */
  dir: string;
  /** @defaultValue a free port */
  port?: number;
  /** Append-only file on (`--appendonly yes`); RDB snapshots are always off. @defaultValue true */
  persistence?: boolean;
  /** @defaultValue 'redis-server' on PATH, else /usr/sbin, /usr/bin */
  binary?: string;
  /** How long to wait for it to answer. @defaultValue 10 s */
  startTimeoutMs?: number;
}

export class LocalRedis {
  readonly port: number;
  readonly url: string;
  readonly #opts: LocalRedisOptions;
  #child: ChildProcess | undefined;

  private constructor(port: number, opts: LocalRedisOptions) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.#opts = opts;
  }

  static async start(opts: LocalRedisOptions): Promise<LocalRedis> {
    const r = new LocalRedis(opts.port ?? (await freePort()), opts);
    await r.start();
    return r;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts it (again, on the same port, after `stop()`). */
  async start(): Promise<void> {
    if (this.running) return;
    await mkdir(this.#opts.dir, { recursive: true });
    const child = spawn(
      this.#opts.binary ?? 'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.#opts.dir,
        '--save',
        '',
        '--appendonly',
        (this.#opts.persistence ?? true) ? 'yes' : 'no',
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/usr/bin` },
      },
    );
    this.#child = child;
    let output = '';
    child.stdout?.on('data', (d: Buffer) => {
      output = (output + d.toString()).slice(-4000);
    });
    child.stderr?.on('data', (d: Buffer) => {
      output = (output + d.toString()).slice(-4000);
    });
    const exited = new Promise<never>((_, reject) => {
      child.once('error', (err) => reject(new Error(`cannot start redis-server: ${err.message}`)));
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output.trim()}`)));
    });
    exited.catch(() => {});
    const deadline = Date.now() + (this.#opts.startTimeoutMs ?? 10_000);
    while (!(await Promise.race([ping(this.port), exited]))) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`redis-server on port ${this.port} did not answer: ${output.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Stops it; `SIGKILL` simulates a crash (no shutdown save). */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    await done;
    this.#child = undefined;
  }
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** One raw `PING` (no client library, so a half-started server cannot leave a client reconnecting). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}
