import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { AnalyticsEvent } from '@storevision/contracts';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EdgeMetrics } from './metrics.ts';
import { AnalyticsRepository } from './repositories/analytics.repository.ts';
import { EventOutboxRepository } from './repositories/event-outbox.repository.ts';
import { EventUploader, type EventUploaderOptions } from './services/event-uploader.ts';
import { startTestEdge, waitFor } from './testing/edge-fixture.ts';
import { startTestRedis, type TestRedis } from './testing/redis-server.ts';

/**
 * The uploader against a real Redis and a hub double: a small HTTP server that speaks the
 * `POST /v1/events/batch` contract and can be told to fail in the ways a real uplink does
 * (refused connections, 5xx, lost or wrong acknowledgements, 413, an unreadable event). The real
 * hub is in test/events-upload.int.test.ts.
 */

let redis: TestRedis;
let conn: Redis;
beforeAll(async () => {
  redis = await startTestRedis();
  conn = new Redis(redis.url);
});
afterAll(async () => {
  conn?.disconnect();
  await redis?.dispose();
});

interface Received {
  headers: http.IncomingHttpHeaders;
  body: {
    nodeId: string;
    storeId: string;
    backlog: number;
    timezone?: string;
    events: Array<{ id: string } | null>;
  };
}

type Behaviour = (r: Received) => { status: number; body?: unknown } | 'destroy';

/** The hub double: remembers every batch, dedupes ids like the real hub, answers per `behave`. */
async function hubDouble() {
  const batches: Received[] = [];
  const stored = new Set<string>();
  let behave: Behaviour | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const text = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString() : raw.toString();
      const r: Received = { headers: req.headers, body: JSON.parse(text) };
      batches.push(r);
      const custom = behave?.(r);
      if (custom === 'destroy') return req.socket.destroy();
      if (custom) {
        res.writeHead(custom.status, { 'content-type': 'application/json' });
        return res.end(JSON.stringify(custom.body ?? { code: 'HUB_ERR_X', message: 'x' }));
      }
      let accepted = 0;
      let duplicates = 0;
      const rejected: Array<{ index: number; id: string | null; message: string }> = [];
      r.body.events.forEach((e, index) => {
        if (!e || typeof e.id !== 'string') rejected.push({ index, id: null, message: 'unreadable' });
        else if (stored.has(e.id)) duplicates++;
        else {
          stored.add(e.id);
          accepted++;
        }
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ accepted, duplicates, rejected }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    batches,
    stored,
    set(b: Behaviour | undefined) {
      behave = b;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A fresh outbox (random prefix) with `n` events written the way the analytics processor writes them. */
function outbox() {
  const prefix = `tup${randomBytes(5).toString('hex')}`;
  const analytics = new AnalyticsRepository(conn, {
    prefix,
    eventRetentionMs: 7 * 24 * 3600 * 1000,
    countsTtlMs: 3600_000,
  });
  let seq = 0;
  const events = (n: number, cameraId = 'cam-1'): AnalyticsEvent[] =>
    Array.from({ length: n }, () => {
      seq++;
      return {
        schemaVersion: 1,
        id: `${prefix}-${seq}`,
        type: 'line_crossing',
        storeId: 'store-1',
        cameraId,
        nodeId: 'edge-1',
        time: new Date(Date.UTC(2025, 2, 10, 1, 0, seq)).toISOString(),
        frameId: `f${seq}`,
        configVersion: 1,
        line: 'door',
        trackId: seq,
        direction: 'in',
      };
    });
  const write = async (list: AnalyticsEvent[]) =>
    analytics.commit({ cursor: `0-${seq}`, events: list, counts: new Map(), meta: new Map() });
  return { prefix, repo: new EventOutboxRepository(conn, { prefix }), events, write };
}

const uploaders: EventUploader[] = [];
afterEach(async () => {
  await Promise.all(uploaders.splice(0).map((u) => u.close()));
});

function uploader(o: ReturnType<typeof outbox>, hubUrl: string, extra: Partial<EventUploaderOptions> = {}) {
  const metrics = new EdgeMetrics({ nodeId: 'edge-1', eventOutboxTotals: () => o.repo.totals() });
  const u = new EventUploader({
    outbox: o.repo,
    hubUrl,
    hubToken: 'svh_node-token',
    nodeId: 'edge-1',
    storeId: 'store-1',
    timezone: 'Asia/Shanghai',
    metrics,
    logger: pino({ level: process.env.EDGE_TEST_LOG ?? 'silent' }),
    batchSize: 50,
    pollMs: 20,
    baseBackoffMs: 20,
    maxBackoffMs: 100,
    heartbeatMs: 60_000,
    ...extra,
  });
  uploaders.push(u);
  return { u, metrics };
}

const metricValue = async (metrics: EdgeMetrics, name: string, labels = '') => {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : undefined;
};

describe('event uploader', () => {
  it('sends the outbox oldest first, gzipped with the node token, and removes only what the hub acknowledged', async () => {
    const hub = await hubDouble();
    const o = outbox();
    const sent = o.events(120);
    await o.write(sent);
    // No share for the newest here (see the drain test): strictly oldest first.
    const { u, metrics } = uploader(o, hub.url, { liveShare: 0 });
    u.start();
    await waitFor(async () => ((await o.repo.length()) === 0 ? true : undefined), 10_000);
    expect(hub.batches[0]!.headers).toMatchObject({
      authorization: 'Bearer svh_node-token',
      'content-encoding': 'gzip',
      'content-type': 'application/json',
    });
    expect(hub.batches[0]!.body).toMatchObject({
      nodeId: 'edge-1',
      storeId: 'store-1',
      timezone: 'Asia/Shanghai',
      backlog: 70,
    });
    const ids = hub.batches.flatMap((b) => b.body.events.map((e) => e!.id));
    expect(ids).toEqual(sent.map((e) => e.id)); // oldest first, each once
    expect(hub.batches.map((b) => b.body.events.length)).toEqual([50, 50, 20]);
    expect(await o.repo.cursor()).not.toBe('0-0');
    expect(await o.repo.totals()).toEqual({ uploaded: 120, rejected: 0, trimmed: 0, length: 0 });
    expect(await metricValue(metrics, 'edge_events_uploaded_total', 'node="edge-1"')).toBe(120);
    await hub.close();
  });

  it('keeps every event while the hub is unreachable or failing, backs off with jitter, and delivers once it is back', async () => {
    const hub = await hubDouble();
    const o = outbox();
    await o.write(o.events(30));
    hub.set(() => ({ status: 503 }));
    const { u, metrics } = uploader(o, hub.url);
    u.start();
    await waitFor(async () => (u.consecutiveFailures >= 3 ? true : undefined), 10_000);
    expect(await o.repo.length()).toBe(30);
    expect(
      await metricValue(metrics, 'edge_event_upload_failures_total', 'reason="http_503"'),
    ).toBeGreaterThanOrEqual(3);
    // The connection dropped without an answer (an ack lost on the way): still nothing removed.
    hub.set(() => 'destroy');
    const tries = hub.batches.length;
    await waitFor(async () => (hub.batches.length > tries + 1 ? true : undefined), 10_000);
    expect(await o.repo.length()).toBe(30);
    hub.set(undefined);
    await waitFor(async () => ((await o.repo.length()) === 0 ? true : undefined), 10_000);
    expect(hub.stored.size).toBe(30);
    // The outbox is emptied inside the round; the loop counts the success just after it.
    await waitFor(async () => (u.consecutiveFailures === 0 ? true : undefined), 10_000);
    await hub.close();
  });

  it('spreads retries with full jitter, capped', () => {
    const o = outbox();
    const { u } = uploader(o, 'http://127.0.0.1:1', {
      baseBackoffMs: 500,
      maxBackoffMs: 60_000,
      random: () => 1,
    });
    expect([1, 2, 3, 8, 20].map((n) => u.backoffMs(n))).toEqual([500, 1000, 2000, 60_000, 60_000]);
    const { u: half } = uploader(o, 'http://127.0.0.1:1', {
      baseBackoffMs: 500,
      maxBackoffMs: 60_000,
      random: () => 0.5,
    });
    expect(half.backoffMs(3)).toBe(1000);
  });

  it('treats an unreachable hub like a failing one (nothing lost), and a wrong ack as no ack', async () => {
    const o = outbox();
    await o.write(o.events(10));
    const { u, metrics } = uploader(o, 'http://127.0.0.1:1');
    u.start();
    await waitFor(async () => (u.consecutiveFailures >= 2 ? true : undefined), 10_000);
    expect(
      await metricValue(metrics, 'edge_event_upload_failures_total', 'reason="unreachable"'),
    ).toBeGreaterThanOrEqual(2);
    await u.close();

    const hub = await hubDouble();
    hub.set(() => ({ status: 200, body: { accepted: 1, duplicates: 0, rejected: [] } }));
    const { u: u2, metrics: m2 } = uploader(o, hub.url);
    u2.start();
    await waitFor(async () => (u2.consecutiveFailures >= 2 ? true : undefined), 10_000);
    expect(
      await metricValue(m2, 'edge_event_upload_failures_total', 'reason="bad_ack"'),
    ).toBeGreaterThanOrEqual(2);
    expect(await o.repo.length()).toBe(10);
    await hub.close();
  });

  it('drops an event the hub can never read, counted, instead of blocking the outbox behind it', async () => {
    const hub = await hubDouble();
    const o = outbox();
    await o.write(o.events(3));
    // A corrupt entry in the middle (not JSON at all), then more events.
    await conn.xadd(`${o.prefix}:events`, '*', 'id', 'corrupt', 'event', '{"broken":');
    await o.write(o.events(3));
    const { u, metrics } = uploader(o, hub.url);
    u.start();
    await waitFor(async () => ((await o.repo.length()) === 0 ? true : undefined), 10_000);
    expect(hub.stored.size).toBe(6);
    expect(await o.repo.totals()).toMatchObject({ uploaded: 6, rejected: 1, trimmed: 0 });
    expect(await metricValue(metrics, 'edge_events_dropped_total', 'reason="rejected"')).toBe(1);
    await hub.close();
  });

  it('keeps everything when the hub refuses the batch itself (400) or the token (401)', async () => {
    const hub = await hubDouble();
    const o = outbox();
    await o.write(o.events(5));
    hub.set(() => ({ status: 400, body: { code: 'HUB_ERR_BAD_EVENT_BATCH', message: 'schemaVersion' } }));
    const { u, metrics } = uploader(o, hub.url, { maxBackoffMs: 30 });
    u.start();
    await waitFor(async () => (u.consecutiveFailures >= 2 ? true : undefined), 10_000);
    hub.set(() => ({ status: 401 }));
    await waitFor(async () => (u.consecutiveFailures >= 4 ? true : undefined), 10_000);
    expect(await o.repo.totals()).toMatchObject({ length: 5, uploaded: 0, rejected: 0, trimmed: 0 });
    expect(
      await metricValue(metrics, 'edge_event_upload_failures_total', 'reason="http_400"'),
    ).toBeGreaterThanOrEqual(2);
    expect(hub.batches.every((b) => b.body.events.length === 5)).toBe(true);
    await hub.close();
  });

  it('sends one store per batch (events from before the node moved to another store)', async () => {
    const hub = await hubDouble();
    const o = outbox();
    const before = o.events(4).map((e) => ({ ...e, storeId: 'old-store' }));
    await o.write(before);
    await o.write(o.events(3));
    const { u } = uploader(o, hub.url);
    u.start();
    await waitFor(async () => ((await o.repo.length()) === 0 ? true : undefined), 10_000);
    expect(
      hub.batches.filter((b) => b.body.events.length > 0).map((b) => [b.body.storeId, b.body.events.length]),
    ).toEqual([
      ['old-store', 4],
      ['store-1', 3],
    ]);
    await hub.close();
  });

  it('asks for the token before each upload (a token enrolled after start is used once it is there)', async () => {
    const hub = await hubDouble();
    hub.set((r) =>
      r.headers.authorization === 'Bearer svh_enrolled' ? (undefined as never) : { status: 401 },
    );
    const o = outbox();
    await o.write(o.events(3));
    let token: string | undefined;
    const { u } = uploader(o, hub.url, { hubToken: async () => token, maxBackoffMs: 30 });
    u.start();
    await waitFor(async () => (u.consecutiveFailures >= 2 ? true : undefined), 10_000);
    expect(await o.repo.length()).toBe(3);
    token = 'svh_enrolled';
    await waitFor(async () => ((await o.repo.length()) === 0 ? true : undefined), 10_000);
    expect(hub.stored.size).toBe(3);
    await hub.close();
  });

  it('halves the batch when the hub says it is too large', async () => {
    const hub = await hubDouble();
    const o = outbox();
    await o.write(o.events(40));
    hub.set((r) => (r.body.events.length > 10 ? { status: 413 } : (undefined as never)));
    const { u } = uploader(o, hub.url, { batchSize: 40 });
    u.start();
    await waitFor(async () => ((await o.repo.length()) === 0 ? true : undefined), 10_000);
    expect(hub.batches.map((b) => b.body.events.length)).toEqual([40, 20, 10, 10, 10, 10]);
    expect(hub.stored.size).toBe(40);
    await hub.close();
  });

  it('caps the outbox: beyond the limit the oldest are dropped and counted, never silently', async () => {
    const o = outbox();
    const all = o.events(250);
    await o.write(all);
    const { u, metrics } = uploader(o, 'http://127.0.0.1:1', { outboxMaxLen: 100 });
    await u.uploadOnce();
    expect(await o.repo.length()).toBe(100);
    expect(await o.repo.totals()).toEqual({ uploaded: 0, rejected: 0, trimmed: 150, length: 100 });
    expect(await metricValue(metrics, 'edge_events_dropped_total', 'reason="trimmed"')).toBe(150);
    // The newest 100 are the ones kept.
    const kept = await o.repo.oldest('0-0', 1000);
    expect(kept.map((e) => e.id)).toEqual(all.slice(150).map((e) => e.id));
  });

  it('drains a backlog oldest first at a bounded rate while live events keep going up', async () => {
    const hub = await hubDouble();
    const o = outbox();
    const backlog = o.events(1000);
    await o.write(backlog);
    const { u } = uploader(o, hub.url, { batchSize: 100, maxEventsPerSecond: 1000 });
    const t0 = Date.now();
    u.start();
    // Live events while the backlog drains.
    await waitFor(async () => (hub.batches.length >= 2 ? true : undefined), 10_000);
    const live = o.events(5, 'cam-live');
    await o.write(live);
    await waitFor(async () => ((await o.repo.length()) === 0 ? true : undefined), 10_000);
    const elapsed = Date.now() - t0;
    // 1005 events at ≤ 1000/s: the last batch may start no sooner than ~0.9 s after the first.
    expect(elapsed).toBeGreaterThanOrEqual(850);
    const order = hub.batches.flatMap((b) => b.body.events.map((e) => e!.id));
    expect(new Set(order).size).toBe(1005);
    expect(order[0]).toBe(backlog[0]!.id); // oldest first
    // The live events went up long before the backlog was through.
    const liveAt = Math.max(...live.map((e) => order.indexOf(e.id)));
    const lastBacklogAt = Math.max(...backlog.map((e) => order.indexOf(e.id)));
    expect(liveAt).toBeLessThan(lastBacklogAt - 300);
    await hub.close();
  });

  it('sends a heartbeat (an empty batch) when idle', async () => {
    const hub = await hubDouble();
    const o = outbox();
    const { u } = uploader(o, hub.url, { heartbeatMs: 100 });
    u.start();
    await waitFor(async () => (hub.batches.length >= 2 ? true : undefined), 5_000);
    expect(hub.batches[0]!.body.events).toEqual([]);
    await hub.close();
  });
});

describe('edge node wiring', () => {
  it('starts no uploader without a hub, and one with hubUrl/hubToken from the config', async () => {
    // Ready before closing: closing a node while its inference threads still create their
    // onnxruntime sessions once crashed the test process in native code (see the report).
    const off = await startTestEdge(redis.url, {});
    try {
      expect(off.uploader).toBeUndefined();
      expect(await off.metrics.registry.metrics()).toContain('edge_events_dropped_total{reason="trimmed"');
    } finally {
      await off.close();
    }
    const hub = await hubDouble();
    const on = await startTestEdge(
      redis.url,
      { hubUrl: `${hub.url}/`, hubToken: 'svh_x', storeId: 'store-9' },
      { uploader: { pollMs: 20, heartbeatMs: 50 } },
    );
    try {
      expect(on.uploader).toBeDefined();
      await waitFor(async () => (hub.batches.length > 0 ? true : undefined), 10_000);
      expect(hub.batches[0]!.body).toMatchObject({ storeId: 'store-9', nodeId: 'test-node' });
      expect(hub.batches[0]!.headers.authorization).toBe('Bearer svh_x');
    } finally {
      await on.close();
      await hub.close();
    }
  });
});
