/**
 * Per-version model health on this node, fed by the inference pool after every run: runs, failed
 * runs and a window of recent inference times for p50/p99. The rollout gates on the hub compare
 * these with a rollout's `maxErrorRate` and `maxP99LatencyMs`. Percentiles come from the last
 * `window` runs (exact, unlike the Prometheus histogram's bucket bounds).
 */

interface VersionStats {
  runs: number;
  errors: number;
  latencies: Float64Array;
  /** Next slot of the ring of latencies; `filled` of them are valid. */
  next: number;
  filled: number;
}

export interface VersionHealth {
  runs: number;
  errors: number;
  errorRate: number;
  p50Ms: number;
  p99Ms: number;
}

export class ModelHealthTracker {
  readonly #window: number;
  readonly #stats = new Map<string, VersionStats>();

  constructor(opts: { window?: number } = {}) {
    this.#window = opts.window ?? 2048;
  }

  /** One run of `model@version`: its inference time, or `undefined` when it failed. */
  record(model: string, version: string, inferMs: number | undefined): void {
    const key = `${model}@${version}`;
    let s = this.#stats.get(key);
    if (!s) {
      s = { runs: 0, errors: 0, latencies: new Float64Array(this.#window), next: 0, filled: 0 };
      this.#stats.set(key, s);
    }
    s.runs++;
    if (inferMs === undefined) {
      s.errors++;
      return;
    }
    s.latencies[s.next] = inferMs;
    s.next = (s.next + 1) % this.#window;
    s.filled = Math.min(s.filled + 1, this.#window);
  }

  get(model: string, version: string): VersionHealth {
    const s = this.#stats.get(`${model}@${version}`);
    if (!s) return { runs: 0, errors: 0, errorRate: 0, p50Ms: 0, p99Ms: 0 };
    const sorted = Array.from(s.latencies.subarray(0, s.filled)).sort((a, b) => a - b);
    return {
      runs: s.runs,
      errors: s.errors,
      errorRate: s.runs === 0 ? 0 : s.errors / s.runs,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
    };
  }

  /** Forgets every version of `model` but those in `keep`. */
  retain(model: string, keep: readonly string[]): void {
    for (const key of this.#stats.keys()) {
      const at = key.lastIndexOf('@');
      if (key.slice(0, at) === model && !keep.includes(key.slice(at + 1))) this.#stats.delete(key);
    }
  }
}

/** Nearest-rank percentile of sorted values; 0 for none. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return Math.round(sorted[rank]! * 1000) / 1000;
}
