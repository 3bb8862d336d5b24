/**
 * A real edge node in a child process for the benchmark: `storevision edge` (the CLI command, so
 * the service's own `startEdge` → `createEdgeNode` → `build`), against a Redis the benchmark
 * started. The load generator stays in the benchmark's process, so the two never share an event
 * loop, and the node's RSS and CPU are its own (read from /proc on Linux).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface EdgeProcessOptions {
  /** Leave unset for the edge's embedded `redis-server` (AOF on, under `--data-dir`). */
  redisUrl?: string | undefined;
  modelsDir: string;
  models: string[];
  redisPrefix: string;
  nodeId: string;
  /** Leave unset for the edge's default thread budget on this machine. */
  inferenceThreads?: number | undefined;
  intraOpThreads?: number | undefined;
  /** How long to wait for `/readyz` (models loaded and warm). @defaultValue 180 s */
  readyTimeoutMs?: number;
  /** Extra Node options for the child (e.g. `--cpu-prof` to profile the node under load). */
  execArgv?: string[];
  /** Extra `storevision edge` options (e.g. `--orchestrator-url U --store-id S`). */
  extraArgs?: string[];
  /**
   * Extra environment for the child, set after this shell's `EDGE_*` variables are dropped: for
   * settings that have no command-line option (e.g. `EDGE_UPLOAD_MAX_BACKOFF_MS`).
   */
  env?: Record<string, string>;
}

export interface EdgeThreads {
  cores: number;
  inferenceThreads: number;
  intraOpThreads: number;
  sharpConcurrency: number;
}

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));
// vitest's module runner has no import.meta.resolve; there the child resolves tsx from the checkout root.
const TSX = typeof import.meta.resolve === 'function' ? import.meta.resolve('tsx') : 'tsx';

export class EdgeProcess {
  readonly url: string;
  readonly pid: number;
  /** The command line, as it would be typed (`storevision edge …`). */
  readonly command: string;
  /** The thread budget the node logged when it started. */
  readonly threads: EdgeThreads | undefined;
  /** The `redis-server` the node started itself (no `redisUrl` given), as it announced it. */
  readonly embeddedRedisUrl: string | undefined;
  readonly #child: ChildProcess;
  readonly #log: string[];

  private constructor(
    child: ChildProcess,
    url: string,
    command: string,
    threads: EdgeThreads | undefined,
    log: string[],
    embeddedRedisUrl: string | undefined,
  ) {
    this.#child = child;
    this.embeddedRedisUrl = embeddedRedisUrl;
    this.pid = child.pid!;
    this.url = url;
    this.command = command;
    this.threads = threads;
    this.#log = log;
  }

  static async start(o: EdgeProcessOptions): Promise<EdgeProcess> {
    const args = [
      'edge',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      ...(o.redisUrl ? ['--redis-url', o.redisUrl] : []),
      '--models-dir',
      o.modelsDir,
      '--models',
      o.models.join(','),
      '--redis-prefix',
      o.redisPrefix,
      '--node-id',
      o.nodeId,
      '--log-level',
      'info',
      ...(o.inferenceThreads ? ['--threads', String(o.inferenceThreads)] : []),
      ...(o.intraOpThreads ? ['--intra-op-threads', String(o.intraOpThreads)] : []),
      ...(o.extraArgs ?? []),
    ];
    // What bin/storevision.js runs, without its re-exec wrapper: the child's pid is the node itself,
    // so its RSS and CPU time are read from the right process. EDGE_* variables are left out so the
    // node runs with its defaults whatever this shell has set.
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EDGE_')) env[k] = v;
    Object.assign(env, o.env);
    env.STOREVISION_TSX_LOADED = '1';
    const child = spawn(process.execPath, [...(o.execArgv ?? []), '--import', TSX, MAIN, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log: string[] = [];
    let threads: EdgeThreads | undefined;
    let url: string | undefined;
    let embeddedRedisUrl: string | undefined;
    const onLine = (line: string) => {
      if (!line.trim()) return;
      log.push(line);
      if (log.length > 200) log.shift();
      url ??= /listening on (http:\/\/[\d.]+:\d+)/.exec(line)?.[1];
      embeddedRedisUrl ??= /embedded Redis (redis:\/\/[\d.]+:\d+)/.exec(line)?.[1];
      if (!threads && line.includes('"loading models"')) {
        try {
          threads = (JSON.parse(line) as { threads?: EdgeThreads }).threads;
        } catch {
          // not JSON: keep looking
        }
      }
    };
    const splitter = () => {
      let buf = '';
      return (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        lines.forEach(onLine);
      };
    };
    child.stdout!.on('data', splitter());
    child.stderr!.on('data', splitter());
    const exited = new Promise<never>((_, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        reject(new Error(`edge exited (${code ?? signal}) while starting:\n${log.slice(-20).join('\n')}`)),
      );
    });
    exited.catch(() => {});
    const deadline = Date.now() + (o.readyTimeoutMs ?? 180_000);
    try {
      for (;;) {
        if (Date.now() > deadline) throw new Error(`edge not ready in time:\n${log.slice(-20).join('\n')}`);
        if (url) {
          const ok = await Promise.race([
            exited,
            fetch(`${url}/readyz`).then(
              (r) => r.status === 200,
              () => false,
            ),
          ]);
          if (ok) break;
        }
        await Promise.race([exited, new Promise((r) => setTimeout(r, 200))]);
      }
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    return new EdgeProcess(child, url!, ['storevision', ...args].join(' '), threads, log, embeddedRedisUrl);
  }

  /** Resident set size now, in bytes (Linux /proc; undefined elsewhere). */
  rssBytes(): number | undefined {
    return procStatusKb(this.pid, 'VmRSS');
  }

  /** Highest resident set size of the process's life so far, in bytes. */
  peakRssBytes(): number | undefined {
    return procStatusKb(this.pid, 'VmHWM');
  }

  /** CPU time (user + system, all threads) in seconds. */
  cpuSeconds(): number | undefined {
    try {
      const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields 14 and 15 of proc(5), counted after the command name: utime, stime in clock ticks.
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return undefined;
    }
  }

  lastLog(lines = 20): string {
    return this.#log.slice(-lines).join('\n');
  }

  /** SIGTERM (the node drains and stops); SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<void> {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  /** Synchronous last resort (process exit handlers). */
  kill(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
  }
}

function procStatusKb(pid: number, field: string): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Busy and total CPU time of the whole machine so far, in clock ticks (Linux /proc/stat). */
export function machineCpuTicks(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - fields[3]! - (fields[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

/** Cores busy on average between two `machineCpuTicks()` readings (all processes, this one too). */
export function machineCores(
  a: ReturnType<typeof machineCpuTicks>,
  b: ReturnType<typeof machineCpuTicks>,
  cpus: number,
): number | undefined {
  if (!a || !b || b.total <= a.total) return undefined;
  return ((b.busy - a.busy) / (b.total - a.total)) * cpus;
}
