import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import type { AnalyticsEvent } from '@storevision/contracts';
import { loadConfig, startHub } from '@storevision/model-hub';
import pino from 'pino';
import { type Column, formatTable, num } from './edge-bench-stats.ts';

/**
 * `storevision bench events`: the hub's store-event path on SQLite (or `--database-url`).
 * 1. Ingest: pre-built gzip batches of `batchSize` events POSTed over loopback HTTP by
 *    `concurrency` uploaders, as edges send them (auth, gunzip, validation, insert-or-ignore,
 *    rollups, one transaction per batch). Events/s from the first request to the last answer.
 * 2. Load: `stores` × `days` of history (a few events per store and hour) through the same ingest
 *    service, so the rollups are what a real month leaves.
 * 3. Queries through the HTTP API: one store's day by hour, and a `days`-day daily comparison of
 *    every store; median and p95 of `queryRuns` runs each.
 */
export interface EventsBenchOptions {
  events: number;
  batchSize: number;
  concurrency: number;
  stores: number;
  days: number;
  queryRuns: number;
  databaseUrl?: string;
  onProgress?: (msg: string) => void;
}

export interface EventsBenchResult {
  machine: { cpus: number; cpuModel: string; node: string };
  database: string;
  ingest: {
    events: number;
    batchSize: number;
    concurrency: number;
    seconds: number;
    eventsPerSecond: number;
    batchP50Ms: number;
    batchP95Ms: number;
  };
  load: { stores: number; days: number; events: number; seconds: number };
  queries: Array<{
    name: string;
    runs: number;
    p50Ms: number;
    p95Ms: number;
    maxMs: number;
    target?: number;
  }>;
}

const ADMIN = 'bench-admin-token-0123456789';
const TYPES = ['in', 'in', 'out', 'occupancy', 'exit', 'queue'] as const;

/** A realistic mix: crossings, occupancy, dwell, queue reports. */
function makeEvent(storeId: string, cameraId: string, i: number, ms: number): AnalyticsEvent {
  const base = {
    schemaVersion: 1 as const,
    id: `${storeId}-${cameraId}-${i}`,
    storeId,
    cameraId,
    nodeId: 'bench-node',
    time: new Date(ms).toISOString(),
    frameId: `f${i}`,
    configVersion: 1,
  };
  const kind = TYPES[i % TYPES.length]!;
  switch (kind) {
    case 'in':
    case 'out':
      return { ...base, type: 'line_crossing', line: 'door', trackId: i + 1, direction: kind };
    case 'occupancy':
      return { ...base, type: 'occupancy', zone: `zone-${i % 4}`, count: i % 9, reason: 'change' };
    case 'exit':
      return {
        ...base,
        type: 'zone_exit',
        zone: `shelf-${i % 3}`,
        trackId: i + 1,
        dwellMs: (i % 600) * 1000,
      };
    case 'queue':
      return {
        ...base,
        type: 'queue',
        zone: 'checkout',
        length: i % 6,
        waitSeconds: (i % 5) * 20,
        reason: 'interval',
      };
  }
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function runEventsBench(o: EventsBenchOptions): Promise<EventsBenchResult> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sv-bench-events-'));
  const say = o.onProgress ?? (() => {});
  const config = loadConfig(
    {},
    {
      port: 0,
      host: '127.0.0.1',
      dataDir,
      adminToken: ADMIN,
      logLevel: 'silent',
      eventPruneIntervalMs: 0,
      ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}),
    },
  );
  const running = await startHub(config, { logger: pino({ level: 'silent' }) });
  try {
    const auth = { authorization: `Bearer ${ADMIN}` };
    // 1. Ingest over HTTP. Ten stores of four cameras, events over the last day.
    const now = Date.now();
    const batches: Buffer[] = [];
    for (let b = 0; b * o.batchSize < o.events; b++) {
      const storeId = `ingest-${b % 10}`;
      const events = Array.from({ length: Math.min(o.batchSize, o.events - b * o.batchSize) }, (_, k) => {
        const i = b * o.batchSize + k;
        return makeEvent(storeId, `cam-${i % 4}`, i, now - 86_400_000 + ((i * 7919) % 86_400_000));
      });
      batches.push(gzipSync(JSON.stringify({ schemaVersion: 1, nodeId: `node-${b % 10}`, storeId, events })));
    }
    say(
      `ingest: ${o.events} events in ${batches.length} batches of ${o.batchSize}, ${o.concurrency} uploaders`,
    );
    const latencies: number[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (next < batches.length) {
          const body = batches[next++]!;
          const s = performance.now();
          const res = await fetch(`${running.url}/v1/events/batch`, {
            method: 'POST',
            headers: { ...auth, 'content-type': 'application/json', 'content-encoding': 'gzip' },
            body,
          });
          const ack = (await res.json()) as { accepted?: number };
          if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${JSON.stringify(ack)}`);
          latencies.push(performance.now() - s);
        }
      }),
    );
    const ingestSeconds = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);

    // 2. A month of history for many stores, through the ingest service (no HTTP: it is setup).
    const hourMs = 3_600_000;
    const startMs = Math.floor(now / hourMs) * hourMs - o.days * 24 * hourMs;
    const perHour = TYPES.length;
    const loadEvents = o.stores * o.days * 24 * perHour;
    say(`load: ${o.stores} stores × ${o.days} days (${loadEvents} events)`);
    const l0 = performance.now();
    let seq = 0;
    for (let s = 0; s < o.stores; s++) {
      const storeId = `store-${String(s).padStart(3, '0')}`;
      let pending: AnalyticsEvent[] = [];
      for (let h = 0; h < o.days * 24; h++)
        for (let k = 0; k < perHour; k++) {
          pending.push(makeEvent(storeId, `cam-${k % 2}`, seq++, startMs + h * hourMs + k * 97_000));
          if (pending.length >= 500) {
            await running.hub.ingest.ingest({ schemaVersion: 1, nodeId: 'loader', storeId, events: pending });
            pending = [];
          }
        }
      if (pending.length > 0)
        await running.hub.ingest.ingest({ schemaVersion: 1, nodeId: 'loader', storeId, events: pending });
    }
    const loadSeconds = (performance.now() - l0) / 1000;

    // 3. Queries.
    const time = async (name: string, url: string, target?: number) => {
      const runs: number[] = [];
      for (let i = 0; i < o.queryRuns + 2; i++) {
        const s = performance.now();
        const res = await fetch(`${running.url}${url}`, { headers: auth });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
        if (i >= 2) runs.push(performance.now() - s); // two warm-up runs
      }
      runs.sort((a, b) => a - b);
      return {
        name,
        runs: runs.length,
        p50Ms: percentile(runs, 0.5),
        p95Ms: percentile(runs, 0.95),
        maxMs: runs[runs.length - 1]!,
        ...(target !== undefined ? { target } : {}),
      };
    };
    const dayFrom = new Date(Math.floor(now / 86_400_000) * 86_400_000 - 86_400_000).toISOString();
    const dayTo = new Date(Date.parse(dayFrom) + 86_400_000).toISOString();
    const monthFrom = new Date(startMs).toISOString();
    const monthTo = new Date(now).toISOString();
    say('queries');
    const queries = [
      await time(
        'one store, one day by hour (footfall_in, 1h)',
        `/v1/stores/store-000/metrics?metric=footfall_in&bucket=1h&from=${dayFrom}&to=${dayTo}`,
        50,
      ),
      await time(
        'one store, one day by 5 min (occupancy, 5m)',
        `/v1/stores/store-000/metrics?metric=occupancy&bucket=5m&from=${dayFrom}&to=${dayTo}`,
      ),
      await time(
        `${o.stores} stores, ${o.days} days daily (footfall_in, 1d)`,
        `/v1/metrics/compare?metric=footfall_in&bucket=1d&from=${monthFrom}&to=${monthTo}`,
        300,
      ),
      await time(
        `${o.stores} stores, ${o.days} days daily (dwell, 1d)`,
        `/v1/metrics/compare?metric=dwell&bucket=1d&from=${monthFrom}&to=${monthTo}`,
      ),
      await time('all stores with live status (GET /v1/stores)', '/v1/stores'),
    ];
    const cpus = os.cpus();
    return {
      machine: { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', node: process.version },
      database: running.hub.database.kind,
      ingest: {
        events: o.events,
        batchSize: o.batchSize,
        concurrency: o.concurrency,
        seconds: ingestSeconds,
        eventsPerSecond: o.events / ingestSeconds,
        batchP50Ms: percentile(latencies, 0.5),
        batchP95Ms: percentile(latencies, 0.95),
      },
      load: { stores: o.stores, days: o.days, events: loadEvents, seconds: loadSeconds },
      queries,
    };
  } finally {
    await running.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export function formatEventsBench(r: EventsBenchResult): string {
  const cols: Column[] = [
    { header: 'what' },
    { header: 'p50 ms', align: 'right' },
    { header: 'p95 ms', align: 'right' },
    { header: 'max ms', align: 'right' },
    { header: 'target ms', align: 'right' },
  ];
  return [
    `storevision bench events — ${r.database}, ${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node}`,
    '',
    `ingest: ${r.ingest.events} events, batches of ${r.ingest.batchSize}, ${r.ingest.concurrency} uploaders, gzip over HTTP: ` +
      `${num(r.ingest.eventsPerSecond, 0)} events/s (batch p50 ${num(r.ingest.batchP50Ms)} ms, p95 ${num(r.ingest.batchP95Ms)} ms; target ≥ 20000/s)`,
    `history loaded: ${r.load.stores} stores × ${r.load.days} days = ${r.load.events} events in ${num(r.load.seconds)} s ` +
      `(${num(r.load.events / r.load.seconds, 0)} events/s through the ingest service)`,
    '',
    formatTable(
      cols,
      r.queries.map((q) => [
        q.name,
        num(q.p50Ms),
        num(q.p95Ms),
        num(q.maxMs),
        q.target === undefined ? '' : `≤ ${q.target}`,
      ]),
    ),
  ].join('\n');
}
