/**
 * Pure helpers of `storevision bench edge`: percentiles, the drop accounting check, Prometheus
 * text parsing, option parsing and the table formatter. No I/O, so they are unit-tested.
 */

/** Nearest-rank percentile (`q` in 0..1) of unsorted values; NaN when there are none. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil(Math.min(1, Math.max(0, q)) * sorted.length);
  return sorted[Math.max(0, rank - 1)]!;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarizeLatency(values: readonly number[]): LatencySummary {
  const n = values.length;
  return {
    count: n,
    p50: percentile(values, 0.5),
    p99: percentile(values, 0.99),
    max: n ? Math.max(...values) : Number.NaN,
    mean: n ? values.reduce((a, b) => a + b, 0) / n : Number.NaN,
  };
}

export interface FrameCounts {
  received: number;
  processed: number;
  dropped: number;
  failed: number;
}

/** Sums the edge's per-camera counters (`GET /v1/cameras/{id}/stats`). */
export function sumFrameCounts(stats: readonly FrameCounts[]): FrameCounts {
  const total = { received: 0, processed: 0, dropped: 0, failed: 0 };
  for (const s of stats) {
    total.received += s.received;
    total.processed += s.processed;
    total.dropped += s.dropped;
    total.failed += s.failed;
  }
  return total;
}

export interface DropAccounting {
  /** Frames the load generator got a 202 for. */
  accepted: number;
  /** The edge's own count of accepted frames. */
  received: number;
  processed: number;
  dropped: number;
  failed: number;
  /** accepted − processed − failed: what the drop counters must say once the queue is idle. */
  expectedDropped: number;
  /** dropped = accepted − processed − failed, and the edge received exactly what was accepted. */
  exact: boolean;
}

/**
 * The overload invariant: once the queue has drained, every accepted frame ended exactly one way,
 * so the drop counters must equal offered − processed − failed with nothing unaccounted for.
 */
export function checkDropAccounting(accepted: number, counts: FrameCounts): DropAccounting {
  const expectedDropped = accepted - counts.processed - counts.failed;
  return {
    accepted,
    ...counts,
    expectedDropped,
    exact: counts.dropped === expectedDropped && counts.received === accepted,
  };
}

/** A sustained run keeps up when it drops at most this share of the frames it accepted. */
export const SUSTAINED_MAX_DROP = 0.01;

/**
 * The node kept up with what it was offered: at most `SUSTAINED_MAX_DROP` of the accepted frames
 * dropped or failed, as few sends skipped because a camera's previous POST was late, and the
 * queue drained after the window.
 */
export function keptUp(r: {
  accepted: number;
  sent: number;
  skippedLate: number;
  drainMs: number | null;
  accounting: { dropped: number; failed: number };
}): boolean {
  return (
    r.drainMs !== null &&
    r.accepted > 0 &&
    r.accounting.dropped + r.accounting.failed <= SUSTAINED_MAX_DROP * r.accepted &&
    r.skippedLate <= SUSTAINED_MAX_DROP * (r.sent + r.skippedLate)
  );
}

/** Labels of one Prometheus sample line, e.g. `{camera="a",node="n"}` → {camera: 'a', node: 'n'}. */
function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/(\w+)="((?:\\.|[^"\\])*)"/g)) out[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
  return out;
}

/** Sum of one metric's samples in Prometheus text format whose labels pass `keep`. */
export function sumMetric(
  text: string,
  name: string,
  keep: (labels: Record<string, string>) => boolean = () => true,
): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^(\w+)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    if (!keep(parseLabels(m[2] ?? ''))) continue;
    const v = Number(m[3]);
    if (Number.isFinite(v)) sum += v;
  }
  return sum;
}

/** Work still to do, from `edge_queue_depth`: runner jobs waiting, active or delayed, and cameras due. */
export function queuedFrames(metricsText: string): number {
  return sumMetric(metricsText, 'edge_queue_depth', (l) =>
    ['waiting', 'active', 'delayed', 'due'].includes(l.state ?? ''),
  );
}

/** Milliseconds part of a Redis stream id (`1767603600000-3` → 1767603600000). */
export function streamIdMs(id: string): number {
  const dash = id.indexOf('-');
  return Number(dash < 0 ? id : id.slice(0, dash));
}

/** Field/value pairs of a stream entry as an object. */
export function streamFields(fields: readonly string[]): Record<string, string> {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  return f;
}

/** `1280x720` → {width, height}. */
export function parseResolution(v: string): { width: number; height: number; label: string } {
  const m = /^(\d{2,5})x(\d{2,5})$/.exec(v.trim());
  if (!m) throw new Error(`bad resolution "${v}": expected WIDTHxHEIGHT, e.g. 1280x720`);
  return { width: Number(m[1]), height: Number(m[2]), label: `${m[1]}x${m[2]}` };
}

export interface BareConfig {
  /** Detectors, each in its own worker thread. */
  threads: number;
  /** onnxruntime intra-op threads per detector. */
  intraOp: number;
}

/** `2x1` → 2 detector threads × 1 intra-op thread each. */
export function parseBareConfig(v: string): BareConfig {
  const m = /^(\d{1,3})x(\d{1,3})$/.exec(v.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1)
    throw new Error(`bad configuration "${v}": expected THREADSxINTRAOP, e.g. 2x1`);
  return { threads: Number(m[1]), intraOp: Number(m[2]) };
}

/**
 * The default bare layouts for `cores`: one wide detector; one single-threaded detector per core; and
 * two per core, which keeps every core busy while a thread waits for its decode (sharp runs on the
 * libuv pool) or for a message — on 2 cores the best of the three.
 */
export function defaultBareConfigs(cores: number): BareConfig[] {
  const c = Math.max(1, cores);
  const configs = [
    { threads: 1, intraOp: c },
    { threads: c, intraOp: 1 },
    { threads: 2 * c, intraOp: 1 },
  ];
  if (c >= 4 && c % 2 === 0) configs.push({ threads: c / 2, intraOp: 2 });
  return configs.filter(
    (x, i) => configs.findIndex((y) => y.threads === x.threads && y.intraOp === x.intraOp) === i,
  );
}

export function describeConfig(c: BareConfig): string {
  return `${c.threads} thread${c.threads > 1 ? 's' : ''} x ${c.intraOp} intra-op`;
}

/** Fixed-width number: `—` for NaN/undefined. */
export function num(v: number | undefined | null, digits = 1): string {
  return v === undefined || v === null || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

export interface Column {
  header: string;
  /** Numbers read best right-aligned. @defaultValue 'left' */
  align?: 'left' | 'right';
}

/** A plain-text table: header, a rule, rows; columns padded to their widest cell. */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    columns
      .map((c, i) => {
        const cell = cells[i] ?? '';
        return c.align === 'right' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
      })
      .join('  ')
      .trimEnd();
  return [
    line(columns.map((c) => c.header)),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
  ].join('\n');
}
