import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { analyticsConfigForScene } from '@storevision/analytics';
import type { AnalyticsEvent, StoreMetric, StoreMetrics, StoreStatus } from '@storevision/contracts';
import { loadConfig as loadHubConfig, type RunningHub, startHub } from '@storevision/model-hub';
import { SequenceRenderer } from '@storevision/scenes';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeNode } from '../services/inference-edge/src/node.ts';
import { startTestEdge, waitFor } from '../services/inference-edge/src/testing/edge-fixture.ts';
import { startTestRedis, type TestRedis } from '../services/inference-edge/src/testing/redis-server.ts';
import { bucketStarts, foldRows, rollupDeltas } from '../services/model-hub/src/services/rollup.ts';
import { eventFactory } from '../services/model-hub/src/testing/store-events.ts';

/**
 * Store and forward, end to end: a real edge node (real Redis) uploading to a real hub (SQLite)
 * through a proxy that can lose acknowledgements. A simulated hour of events of three cameras; the
 * hub is stopped for most of it (the uplink is cut), the edge restarted once during the outage,
 * then the hub comes back. Every event must arrive exactly once, nothing may be dropped while the
 * outbox is under its cap, and the hub's rollups must equal the ones computed from the events.
 */

const ADMIN = 'reliability-admin-token-0123';
const STORE = 'store-rel';
const CAMERAS = ['cam-door', 'cam-aisle', 'cam-checkout'];
/** The simulated hour: the last whole hour but two (recent: minute rollups are kept 30 days). */
const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000;

/** A forwarding proxy between edge and hub; `loseNextAcks` answers nothing after the hub stored a batch. */
async function uplinkProxy(target: () => string) {
  let loseNextAcks = 0;
  let lost = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', target());
    const up = http.request(url, { method: req.method, headers: req.headers }, (hubRes) => {
      if (loseNextAcks > 0 && hubRes.statusCode === 200) {
        loseNextAcks--;
        lost++;
        hubRes.resume();
        hubRes.on('end', () => req.socket.destroy());
        return;
      }
      res.writeHead(hubRes.statusCode ?? 502, hubRes.headers);
      hubRes.pipe(res);
    });
    // Hub down: the edge sees the connection drop, as over a cut uplink.
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    loseAcks(n: number) {
      loseNextAcks = n;
    },
    get lost() {
      return lost;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Minutes [from, to) of the simulated hour: per camera and minute, crossings, occupancy, a dwell, a queue report. */
function simulate(from: number, to: number): AnalyticsEvent[] {
  const out: AnalyticsEvent[] = [];
  CAMERAS.forEach((cameraId, c) => {
    const ev = eventFactory({ storeId: STORE, cameraId, nodeId: 'test-node' });
    // Ids must be unique across phases: the factory counts per call, so prefix with the minute.
    const at = (m: number, s: number) => new Date(T0 + m * 60_000 + s * 1000).toISOString();
    for (let m = from; m < to; m++) {
      const tag = (e: AnalyticsEvent): AnalyticsEvent => ({ ...e, id: `${e.id}-m${m}` });
      out.push(tag(ev.crossing(at(m, 5 + c), 'door', 'in', m + 1)));
      if (m % 3 === 0) out.push(tag(ev.crossing(at(m, 40), 'door', 'out', m + 1)));
      out.push(tag(ev.occupancy(at(m, 10), `zone-${c}`, (m * (c + 1)) % 7)));
      out.push(tag(ev.exit(at(m, 30), `shelf-${c}`, 5 + ((m * 17 + c * 31) % 400), m + 1)));
      out.push(tag(ev.queue(at(m, 50), 'checkout', (m + c) % 5, m % 4 === 0 ? null : 10 + (m % 9) * 6)));
      if (m % 20 === 7) out.push(tag(ev.alert(at(m, 55), `zone-${c}`, 'raised')));
    }
  });
  return out;
}

let redis: TestRedis;
let dataDir: string;
let hub: RunningHub | undefined;
let hubPort = 0;
let edge: EdgeNode | undefined;
let proxy: Awaited<ReturnType<typeof uplinkProxy>>;
let nodeToken = '';
const prefix = `trel${Date.now().toString(36)}`;

async function startTheHub(): Promise<RunningHub> {
  const config = loadHubConfig(
    {},
    { port: hubPort, host: '127.0.0.1', dataDir, adminToken: ADMIN, logLevel: 'silent' },
  );
  const h = await startHub(config, { logger: pino({ level: process.env.HUB_TEST_LOG ?? 'silent' }) });
  hubPort = Number(new URL(h.url).port);
  return h;
}

async function startTheEdge(
  hubToken: string,
  storeId = STORE,
  redisPrefix = prefix,
  waitReady = true,
): Promise<EdgeNode> {
  return startTestEdge(
    redis.url,
    {
      redisPrefix,
      hubUrl: proxy.url,
      hubToken,
      storeId,
      timezone: 'Asia/Shanghai',
      uploadBatchSize: 100,
      uploadMaxBackoffMs: 300,
      eventOutboxMaxLen: 100_000,
    },
    { waitReady, uploader: { pollMs: 30, baseBackoffMs: 30, heartbeatMs: 200 } },
  );
}

const write = (node: EdgeNode, events: AnalyticsEvent[]) =>
  node.analyticsRepository.commit({ cursor: '0-0', events, counts: new Map(), meta: new Map() });

beforeAll(async () => {
  redis = await startTestRedis();
  dataDir = await mkdtemp(path.join(tmpdir(), 'sv-rel-'));
  proxy = await uplinkProxy(() => `http://127.0.0.1:${hubPort}`);
});
afterAll(async () => {
  await edge?.close();
  await hub?.close();
  await proxy?.close();
  await redis?.dispose();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('events from edge to hub through an outage', () => {
  it('arrive exactly once, with the rollups of the ground truth, after a cut uplink and an edge restart', async () => {
    hub = await startTheHub();
    const tokenRes = await fetch(`${hub.url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'node', label: 'edge' }),
    });
    nodeToken = ((await tokenRes.json()) as { token: string }).token;
    edge = await startTheEdge(nodeToken);
    const storedCount = async () =>
      Number(
        (
          await hub!.hub.database.db
            .selectFrom('store_events')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    // Minutes 0–15 with the link up; then 15–20 with two acknowledgements lost on the way back.
    const produced: AnalyticsEvent[] = [];
    const phase = async (from: number, to: number) => {
      const events = simulate(from, to);
      produced.push(...events);
      await write(edge!, events);
    };
    await phase(0, 15);
    await waitFor(async () => ((await storedCount()) === produced.length ? true : undefined), 20_000);
    proxy.loseAcks(2);
    await phase(15, 20);
    await waitFor(async () => ((await edge!.eventOutbox.length()) === 0 ? true : undefined), 20_000);
    expect(proxy.lost).toBe(2);
    expect(await storedCount()).toBe(produced.length);
    // The lost acknowledgements made the edge send those batches again: the hub saw duplicates.
    expect(await hub.hub.metrics.registry.metrics()).toMatch(
      /hub_events_ingested_total\{result="duplicate"\} [1-9]/,
    );

    // The uplink is cut: the hub stops. Minutes 20–40, then the edge restarts, then minutes 40–60.
    await hub.close();
    hub = undefined;
    await phase(20, 40);
    await waitFor(async () => ((edge!.uploader?.consecutiveFailures ?? 0) >= 2 ? true : undefined), 20_000);
    await edge.close();
    edge = await startTheEdge(nodeToken);
    await phase(40, 60);
    const waiting = simulate(20, 60).length;
    expect(await edge.eventOutbox.length()).toBe(waiting);
    expect(await edge.eventOutbox.totals()).toMatchObject({ trimmed: 0, rejected: 0, length: waiting });

    // The link is back.
    hub = await startTheHub();
    await waitFor(async () => ((await edge!.eventOutbox.length()) === 0 ? true : undefined), 30_000);

    // Exactly once: every id, once.
    const rows = await hub.hub.database.db.selectFrom('store_events').select('id').execute();
    expect(rows.length).toBe(produced.length);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(produced.map((e) => e.id)));
    const edgeMetrics = await edge.metrics.registry.metrics();
    expect(edgeMetrics).toContain('edge_events_dropped_total{reason="trimmed",node="test-node"} 0');

    // Rollups equal those computed from the events themselves.
    const token = `Bearer ${ADMIN}`;
    const from = new Date(T0).toISOString();
    const to = new Date(T0 + 3_600_000).toISOString();
    const truth = rollupDeltas(produced, () => 'Asia/Shanghai');
    const checks: Array<[StoreMetric, '5m' | '1h']> = [
      ['footfall_in', '5m'],
      ['footfall_out', '1h'],
      ['occupancy', '5m'],
      ['dwell', '1h'],
      ['queue_length', '5m'],
      ['queue_wait', '1h'],
      ['alerts', '1h'],
    ];
    for (const [metric, bucket] of checks) {
      const res = await fetch(
        `${hub.url}/v1/stores/${STORE}/metrics?metric=${metric}&bucket=${bucket}&from=${from}&to=${to}`,
        { headers: { authorization: token } },
      );
      const got = (await res.json()) as StoreMetrics;
      const expected = foldRows({
        metric,
        starts: bucketStarts(T0, T0 + 3_600_000, bucket, 'UTC'),
        end: T0 + 3_600_000,
        rows: truth.filter((r) => r.metric === metric && r.bucket === (bucket === '5m' ? '1m' : '1h')),
      });
      expect(got.points, metric).toEqual(expected.points);
      expect(got.byKey, metric).toEqual(expected.byKey);
    }
    // And against plain counting, not only the same arithmetic.
    const footfall = (await (
      await fetch(
        `${hub.url}/v1/stores/${STORE}/metrics?metric=footfall_in&bucket=1h&from=${from}&to=${to}`,
        {
          headers: { authorization: token },
        },
      )
    ).json()) as StoreMetrics;
    expect(footfall.total.value).toBe(
      produced.filter((e) => e.type === 'line_crossing' && e.direction === 'in').length,
    );
    const stores = (await (
      await fetch(`${hub.url}/v1/stores`, { headers: { authorization: token } })
    ).json()) as {
      stores: StoreStatus[];
    };
    expect(stores.stores[0]).toMatchObject({
      storeId: STORE,
      timezone: 'Asia/Shanghai',
      nodes: { up: 1, total: 1 },
    });
  });

  it('carries the events the edge’s analytics made from rendered frames, through an outage, exactly once', async () => {
    // A rendered entrance sequence (people through the door) pushed frame by frame into a real
    // edge running the bundled detector, with the scene's zones and lines as the camera's config.
    const camera = 'door-real';
    const renderer = new SequenceRenderer({
      scene: 'entrance',
      seed: 9203,
      frames: 90,
      fps: 10,
      width: 640,
      height: 480,
    });
    const real = await startTheEdge(nodeToken, 'store-real', `${prefix}real`, true);
    try {
      const put = await real.app.inject({
        method: 'PUT',
        url: `/v1/cameras/${camera}/analytics/config`,
        payload: analyticsConfigForScene(renderer.describe()) as object,
      });
      expect(put.statusCode).toBe(200);
      hub = hub ?? (await startTheHub());
      const header = renderer.header();
      let i = 0;
      for await (const f of renderer.frames()) {
        // The uplink is cut for the middle third of the sequence.
        if (i === 30) {
          await hub?.close();
          hub = undefined;
        }
        if (i === 60) hub = await startTheHub();
        i++;
        const res = await real.app.inject({
          method: 'POST',
          url: `/v1/cameras/${camera}/frames`,
          headers: {
            'content-type': 'image/jpeg',
            'x-capture-time': String(header.startEpochMs + Math.round(f.truth.t)),
          },
          payload: f.jpeg,
        });
        expect(res.statusCode).toBe(202);
        const { frameId } = res.json() as { frameId: string };
        await waitFor(
          async () => {
            const s = (await real.app.inject({ url: `/v1/cameras/${camera}/analytics` })).json() as {
              frameId: string;
            };
            return s.frameId === frameId ? true : undefined;
          },
          30_000,
          5,
        );
      }
      await waitFor(async () => ((await real.eventOutbox.length()) === 0 ? true : undefined), 30_000);
      // What the edge's analytics made, by type (its counter) = what the hub stored, by type.
      const made: Record<string, number> = {};
      for (const line of (await real.metrics.registry.metrics()).split('\n')) {
        const m = /^edge_analytics_events_total\{type="(\w+)".*\} (\d+)$/.exec(line);
        if (m) made[m[1]!] = Number(m[2]);
      }
      expect(made.line_crossing ?? 0).toBeGreaterThan(0);
      const stored = await hub!.hub.database.db
        .selectFrom('store_events')
        .select(['type', 'body'])
        .where('store_id', '=', 'store-real')
        .execute();
      const byType: Record<string, number> = {};
      for (const r of stored) byType[r.type] = (byType[r.type] ?? 0) + 1;
      expect(byType).toEqual(made);
      const ins = stored.filter(
        (r) => (JSON.parse(r.body) as { direction?: string }).direction === 'in',
      ).length;
      const total = (await (
        await fetch(
          `${hub!.url}/v1/stores/store-real/metrics?metric=footfall_in&bucket=1d&from=${new Date(header.startEpochMs - 86_400_000).toISOString()}&to=${new Date(header.startEpochMs + 86_400_000).toISOString()}`,
          { headers: { authorization: `Bearer ${ADMIN}` } },
        )
      ).json()) as StoreMetrics;
      expect(total.total.value).toBe(ins);
      expect(await real.eventOutbox.totals()).toMatchObject({ trimmed: 0, rejected: 0 });
    } finally {
      await real.close();
    }
  });
});
