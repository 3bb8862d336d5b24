import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  startTestHub,
  TEST_ADMIN_TOKEN,
  type TestHub,
  testDatabases,
} from './testing/hub-fixture.ts';
import { eventBatch, eventFactory } from './testing/store-events.ts';

/**
 * Store events in, metrics out, on SQLite and a real PostgreSQL: idempotent ingest, rollups
 * against hand-computed numbers, late events, time zones, the stores API and bad input.
 */
const databases = testDatabases();
afterAll(() => databases.stop());

describe.each(BACKENDS)('store events and metrics on %s', (backend) => {
  let t: TestHub;
  let node: Record<string, string>;
  let viewer: Record<string, string>;
  const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const ev = eventFactory({ storeId: 'sh-1' });
  const ev2 = eventFactory({ storeId: 'sh-1', cameraId: 'cam-b' });

  beforeAll(async () => {
    // Retention off: the fixture's March 2025 minute rollups are past it (the last test prunes by hand).
    t = await startTestHub((dir) => databases.url(backend, dir), { eventPruneIntervalMs: 0 });
    node = { authorization: `Bearer ${await t.token('node')}` };
    viewer = { authorization: `Bearer ${await t.token('viewer')}` };
  });
  afterAll(() => t?.dispose());

  const post = (body: unknown, headers: Record<string, string> = node) =>
    t.hub.app.inject({ method: 'POST', url: '/v1/events/batch', headers, payload: body as object });
  const postGzip = (body: unknown) =>
    t.hub.app.inject({
      method: 'POST',
      url: '/v1/events/batch',
      headers: { ...node, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      payload: gzipSync(JSON.stringify(body)),
    });
  const metrics = async (query: string, store = 'sh-1') => {
    const res = await t.hub.app.inject({ url: `/v1/stores/${store}/metrics?${query}`, headers: viewer });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const day = 'from=2025-03-10T00:00:00Z&to=2025-03-10T03:00:00Z';

  // Two cameras of one Shanghai store, 2025-03-10 between 01:00 and 02:10 UTC (09:00–10:10 local),
  // and a loitering alert at 16:30 UTC, which is already the 11th in Shanghai.
  const batch1 = [
    ev.crossing('2025-03-10T01:05:10Z', 'door', 'in'),
    ev.crossing('2025-03-10T01:20:00Z', 'door', 'in'),
    ev.crossing('2025-03-10T01:30:00Z', 'door', 'out'),
    ev.crossing('2025-03-10T02:00:00Z', 'door', 'in'),
    ev.occupancy('2025-03-10T01:00:00Z', 'shelf-1', 2),
    ev.occupancy('2025-03-10T01:00:30Z', 'shelf-1', 4),
    ev.occupancy('2025-03-10T01:10:00Z', 'shelf-1', 3),
    ev2.occupancy('2025-03-10T01:00:00Z', 'shelf-2', 1),
    ...[12, 25, 40, 70, 400].map((s, i) => ev.exit(`2025-03-10T01:0${2 + i}:00Z`, 'shelf-1', s)),
    ev2.queue('2025-03-10T01:00:00Z', 'checkout', 3, 60),
    ev2.queue('2025-03-10T01:01:00Z', 'checkout', 5, null),
    ev2.queue('2025-03-10T02:10:00Z', 'checkout', 1, 30),
    ev.alert('2025-03-10T01:15:00Z', 'shelf-1', 'raised'),
    ev.alert('2025-03-10T01:16:00Z', 'shelf-1', 'cleared'),
    ev.alert('2025-03-10T16:30:00Z', 'shelf-1', 'raised', 'loitering'),
  ];

  it('stores a new store’s time zone from the batch, and answers {accepted, duplicates, rejected}', async () => {
    const res = await postGzip(eventBatch('sh-1', batch1, { timezone: 'Asia/Shanghai', backlog: 12 }));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ accepted: batch1.length, duplicates: 0, rejected: [] });
  });

  it('is idempotent on event ids: the same batch again adds nothing', async () => {
    const before = await metrics(`metric=footfall_in&bucket=1h&${day}`);
    const res = await post(eventBatch('sh-1', batch1));
    expect(res.json()).toEqual({ accepted: 0, duplicates: batch1.length, rejected: [] });
    // And a batch repeating an id inside itself counts it once.
    const again = ev.crossing('2025-03-10T01:06:00Z', 'door', 'in');
    expect((await post(eventBatch('sh-1', [again, again]))).json()).toEqual({
      accepted: 1,
      duplicates: 1,
      rejected: [],
    });
    const after = await metrics(`metric=footfall_in&bucket=1h&${day}`);
    expect(after.total.value).toBe(before.total.value + 1);
  });

  it('rolls up footfall by hour, against the hand-computed numbers', async () => {
    const m = await metrics(`metric=footfall_in&bucket=1h&${day}`);
    expect(m).toMatchObject({
      storeId: 'sh-1',
      metric: 'footfall_in',
      bucket: '1h',
      timezone: 'Asia/Shanghai',
    });
    expect(m.from).toBe('2025-03-10T00:00:00.000Z');
    expect(m.to).toBe('2025-03-10T03:00:00.000Z');
    // 01:05:10, 01:06 (the extra one), 01:20 → 3; 02:00 → 1.
    expect(m.points.map((p: { value: number }) => p.value)).toEqual([0, 3, 1]);
    expect(m.byKey.door.map((p: { value: number }) => p.value)).toEqual([0, 3, 1]);
    expect((await metrics(`metric=footfall_out&bucket=1h&${day}`)).total.value).toBe(1);
  });

  it('rolls up occupancy time-weighted (per zone, summed over zones) and filters by zone and camera', async () => {
    // Each report holds until the next one of its zone, at most 5 min (the hub's default hold).
    // shelf-1: 2 for 30 s, 4 for 300 s (to 01:05:30), 3 for 300 s (01:10–01:15):
    // (2·30 + 4·300 + 3·300) / 630 s = 3.429; the mean of its reports would be (2+4+3)/3 = 3.
    // shelf-2 (cam-b): 1 from 01:00 to 01:05. The store: 3.429 + 1, max 4 + 1, 4 reports.
    const m = await metrics(`metric=occupancy&bucket=1h&${day}`);
    expect(m.points[1]).toMatchObject({ value: 4.429, max: 5, n: 4 });
    expect(m.points[0].value).toBeNull();
    expect(Object.keys(m.byKey)).toEqual(['shelf-1', 'shelf-2']);
    expect((await metrics(`metric=occupancy&bucket=1h&${day}&zone=shelf-1`)).points[1]).toMatchObject({
      value: 3.429,
      max: 4,
    });
    expect((await metrics(`metric=occupancy&bucket=1h&${day}&camera=cam-b`)).points[1]).toMatchObject({
      value: 1,
    });
    const five = await metrics(
      `metric=occupancy&bucket=5m&from=2025-03-10T01:00:00Z&to=2025-03-10T01:15:00Z`,
    );
    // 01:00–01:05: shelf-1 (2·30 + 4·270) / 300 = 3.8, plus shelf-2's 1. 01:05–01:10 has no report
    // but shelf-1's 4 holds until 01:05:30 (the means of reports: 4, null, 3).
    expect(five.points.map((p: { value: number }) => p.value)).toEqual([4.8, 4, 3]);
  });

  it('rolls up dwell (count, mean, p50, p90), queue length and wait', async () => {
    const d = await metrics(`metric=dwell&bucket=1h&${day}`);
    expect(d.points[1]).toEqual({
      t: '2025-03-10T01:00:00.000Z',
      value: 109.4,
      n: 5,
      max: 400,
      p50: 45,
      p90: 400,
    });
    const q = await metrics(`metric=queue_length&bucket=1h&${day}`);
    // 3 for 60 s, then 5 for 300 s: (3·60 + 5·300) / 360 = 4.667 (the mean of reports: 4).
    expect(q.points.map((p: { value: number }) => p.value)).toEqual([null, 4.667, 1]);
    expect(q.points[1].max).toBe(5);
    const w = await metrics(`metric=queue_wait&bucket=1h&${day}`);
    // The report without an estimate (null) is not a zero wait.
    expect(w.points.map((p: { value: number; n: number }) => [p.value, p.n])).toEqual([
      [null, 0],
      [60, 1],
      [30, 1],
    ]);
  });

  it('counts raised alerts in store-local days', async () => {
    const m = await metrics('metric=alerts&bucket=1d&from=2025-03-09T16:00:00Z&to=2025-03-11T16:00:00Z');
    expect(m.points).toEqual([
      { t: '2025-03-09T16:00:00.000Z', value: 1, n: 1 },
      { t: '2025-03-10T16:00:00.000Z', value: 1, n: 1 },
    ]);
  });

  it('folds late events (a backlog arriving later) into the right buckets', async () => {
    const late = [
      ev.crossing('2025-03-10T00:59:59Z', 'door', 'in'),
      ev2.crossing('2025-03-10T01:45:00Z', 'side', 'in'),
    ];
    expect((await post(eventBatch('sh-1', late))).json().accepted).toBe(2);
    const m = await metrics(`metric=footfall_in&bucket=1h&${day}`);
    expect(m.points.map((p: { value: number }) => p.value)).toEqual([1, 4, 1]);
    expect(Object.keys(m.byKey)).toEqual(['door', 'side']);
    const d = await metrics('metric=footfall_in&bucket=1d&from=2025-03-09T16:00:00Z&to=2025-03-10T16:00:00Z');
    expect(d.points).toEqual([{ t: '2025-03-09T16:00:00.000Z', value: 6, n: 6 }]);
  });

  it('places a late occupancy report in the step it falls in, across buckets', async () => {
    // 01:02: shelf-1 was empty (a report from a backlog). 4 (from 01:00:30) now holds 90 s, not
    // 300 s, and 0 holds from 01:02 to 01:07: (2·30 + 4·90 + 0·300 + 3·300) / 720 s = 1.833.
    expect(
      (await post(eventBatch('sh-1', [ev.occupancy('2025-03-10T01:02:00Z', 'shelf-1', 0)]))).json(),
    ).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    const zone = await metrics(`metric=occupancy&bucket=1h&${day}&zone=shelf-1`);
    // The max seen in the hour stays: 4 was reported in it. 4 reports now.
    expect(zone.points[1]).toMatchObject({ value: 1.833, max: 4, n: 4 });
    const five = await metrics(
      `metric=occupancy&bucket=5m&from=2025-03-10T01:00:00Z&to=2025-03-10T01:15:00Z`,
    );
    // 01:00–01:05: shelf-1 (2·30 + 4·90 + 0·180) / 300 = 1.4 plus shelf-2's 1; 01:05–01:10: the 0
    // holding to 01:07 (an empty zone is 0, not "no data"); 01:10–01:15: 3.
    expect(five.points.map((p: { value: number }) => p.value)).toEqual([2.4, 0, 3]);
  });

  it('lowers a max that a late report shows too high: the same maxima as all reports at once', async () => {
    // What an edge's upload after an outage does: each batch carries the newest events too, so a
    // report can arrive after the ones on both sides of it. cam-c gets 5 people at 04:59:30 and
    // 1 at 05:02 first: the 5 held to 05:02, so 05:00–05:02 saw 5. Then the backlog's report: at
    // 05:00 the aisle was empty — the 5 held 30 s, and 05:00–05:02 saw 0. The same across the
    // store-local midnight (16:00 UTC in Shanghai): the day that starts then saw 0 and 1, not 5.
    // cam-d gets all six at once.
    const c = eventFactory({ storeId: 'sh-1', cameraId: 'cam-c' });
    const d = eventFactory({ storeId: 'sh-1', cameraId: 'cam-d' });
    const reports = (f: typeof c) =>
      ['04:59:30', '05:02:00', '05:00:00', '15:59:30', '16:02:00', '16:00:00'].map((time, i) =>
        f.occupancy(`2025-03-10T${time}Z`, 'aisle-9', [5, 1, 0][i % 3]!),
      );
    const [a, later, late, a2, later2, late2] = reports(c);
    expect((await post(eventBatch('sh-1', [a!, later!, a2!, later2!]))).json().accepted).toBe(4);
    expect((await post(eventBatch('sh-1', reports(d)))).json().accepted).toBe(6);
    const maxima = async (camera: string, bucket: string, from = '04:00', to = '06:00') =>
      (
        await metrics(
          `metric=occupancy&bucket=${bucket}&from=2025-03-10T${from}:00Z&to=2025-03-10T${to}:00Z&camera=${camera}`,
        )
      ).points
        .filter((p: { value: number | null }) => p.value !== null)
        .map((p: { t: string; max: number }) => [p.t.slice(11, 16), p.max]);
    const days = async (camera: string) =>
      (
        await metrics(
          `metric=occupancy&bucket=1d&from=2025-03-09T16:00:00Z&to=2025-03-11T16:00:00Z&camera=${camera}`,
        )
      ).points.map((p: { t: string; max: number }) => [p.t.slice(0, 10), p.max]);
    expect(await maxima('cam-c', '1h')).toEqual([
      ['04:00', 5],
      ['05:00', 5],
    ]);
    expect(await days('cam-c')).toEqual([
      ['2025-03-09', 5],
      ['2025-03-10', 5],
    ]);
    expect((await post(eventBatch('sh-1', [late!, late2!]))).json().accepted).toBe(2);
    for (const bucket of ['1m', '5m', '1h']) {
      expect(await maxima('cam-c', bucket)).toEqual(await maxima('cam-d', bucket));
      expect(await maxima('cam-c', bucket, '15:00', '17:00')).toEqual(
        await maxima('cam-d', bucket, '15:00', '17:00'),
      );
    }
    expect(await days('cam-c')).toEqual(await days('cam-d'));
    expect(await maxima('cam-c', '1h')).toEqual([
      ['04:00', 5],
      ['05:00', 1],
    ]);
    // 05:01 holds the 0 (the minute that kept the 5 before); 05:03–05:06 the held 1, whose max is
    // only raised in its own minute (the held end of a last step may still be cut short).
    expect((await maxima('cam-c', '1m')).slice(0, 5)).toEqual([
      ['04:59', 5],
      ['05:00', 0],
      ['05:01', 0],
      ['05:02', 1],
      ['05:03', 0],
    ]);
    // The store-local day that starts at 16:00 UTC: 0, then 1.
    expect(await days('cam-c')).toEqual([
      ['2025-03-09', 5],
      ['2025-03-10', 1],
    ]);
  });

  it('rejects unreadable events by position and stores the rest', async () => {
    const good = ev.crossing('2025-03-10T02:30:00Z', 'door', 'out');
    const res = await post(
      eventBatch('sh-1', [
        { id: 'broken-1', type: 'line_crossing' },
        good,
        { ...ev.crossing('2025-03-10T02:31:00Z', 'door', 'out'), storeId: 'other' },
        { ...ev.crossing('2025-03-10T02:32:00Z', 'door', 'out'), time: 'yesterday' },
      ]),
    );
    expect(res.statusCode).toBe(200);
    const ack = res.json();
    expect(ack.accepted).toBe(1);
    expect(ack.rejected.map((r: { index: number; id: string | null }) => [r.index, r.id])).toEqual([
      [0, 'broken-1'],
      [2, expect.any(String)],
      [3, expect.any(String)],
    ]);
    expect((await metrics(`metric=footfall_out&bucket=1h&${day}`)).total.value).toBe(2);
  });

  it('lists stores with live status (nodes up, backlog, last event) and today’s totals', async () => {
    const now = new Date();
    const live = eventFactory({ storeId: 'sz-2', nodeId: 'node-9' });
    const res = await post(
      eventBatch(
        'sz-2',
        [live.crossing(now.toISOString(), 'door', 'in'), live.crossing(now.toISOString(), 'door', 'in')],
        { nodeId: 'node-9' },
      ),
    );
    expect(res.json().accepted).toBe(2);
    const stores = (await t.hub.app.inject({ url: '/v1/stores', headers: viewer })).json().stores;
    expect(stores.map((s: { storeId: string }) => s.storeId)).toEqual(['sh-1', 'sz-2']);
    expect(stores[0]).toMatchObject({
      storeId: 'sh-1',
      timezone: 'Asia/Shanghai',
      lastEventTime: '2025-03-10T16:30:00.000Z',
      nodes: { up: 1, total: 1, items: [{ nodeId: 'node-1', up: true }] },
    });
    expect(stores[1]).toMatchObject({
      timezone: 'UTC',
      nodes: { up: 1, total: 1 },
      today: { footfallIn: 2, footfallOut: 0, alerts: 0 },
    });
  });

  it('compares stores, each in its own days', async () => {
    const res = await t.hub.app.inject({
      url: '/v1/metrics/compare?metric=footfall_in&bucket=1d&from=2025-03-09T00:00:00Z&to=2025-03-11T00:00:00Z&stores=sh-1,sz-2',
      headers: viewer,
    });
    expect(res.statusCode, res.body).toBe(200);
    const c = res.json();
    expect(
      c.stores.map((s: { storeId: string; total: { value: number } }) => [s.storeId, s.total.value]),
    ).toEqual([
      ['sh-1', 6],
      ['sz-2', 0],
    ]);
    // Shanghai days start at 16:00 UTC; UTC days at midnight.
    expect(c.stores[0].points[0].t).toBe('2025-03-08T16:00:00.000Z');
    expect(c.stores[1].points[0].t).toBe('2025-03-09T00:00:00.000Z');
  });

  it('rebuilds day rollups when an admin changes the store’s time zone', async () => {
    const put = await t.hub.app.inject({
      method: 'PUT',
      url: '/v1/stores/sh-1',
      headers: admin,
      payload: { name: 'Hema Shanghai 1', timezone: 'UTC' },
    });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({ storeId: 'sh-1', name: 'Hema Shanghai 1', timezone: 'UTC' });
    const a = await metrics('metric=alerts&bucket=1d&from=2025-03-10T00:00:00Z&to=2025-03-11T00:00:00Z');
    expect(a.points).toEqual([{ t: '2025-03-10T00:00:00.000Z', value: 2, n: 2 }]);
    const f = await metrics('metric=footfall_in&bucket=1d&from=2025-03-10T00:00:00Z&to=2025-03-11T00:00:00Z');
    expect(f.total.value).toBe(6);
    const created = await t.hub.app.inject({
      method: 'PUT',
      url: '/v1/stores/hz-3',
      headers: admin,
      payload: { timezone: 'Asia/Shanghai' },
    });
    expect(created.statusCode).toBe(201);
  });

  it.each([
    ['no token', () => post(eventBatch('sh-1', []), {}), 401, 'HUB_ERR_UNAUTHORIZED'],
    ['a viewer uploading', () => post(eventBatch('sh-1', []), viewer), 403, 'HUB_ERR_FORBIDDEN'],
    [
      'a body that is not JSON',
      () =>
        t.hub.app.inject({
          method: 'POST',
          url: '/v1/events/batch',
          headers: { ...node, 'content-type': 'application/json' },
          payload: '{"events": [',
        }),
      400,
      'HUB_ERR_BAD_REQUEST',
    ],
    [
      'a batch without schemaVersion',
      () => post({ nodeId: 'n', storeId: 's', events: [] }),
      400,
      'HUB_ERR_BAD_EVENT_BATCH',
    ],
    ['events not an array', () => post(eventBatch('sh-1', {} as never)), 400, 'HUB_ERR_BAD_EVENT_BATCH'],
    ['a bad store id', () => post(eventBatch('a/b', [])), 400, 'HUB_ERR_BAD_EVENT_BATCH'],
    [
      'an unknown content-encoding',
      () =>
        t.hub.app.inject({
          method: 'POST',
          url: '/v1/events/batch',
          headers: { ...node, 'content-type': 'application/json', 'content-encoding': 'br' },
          payload: '{}',
        }),
      415,
      'HUB_ERR_UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'broken gzip',
      () =>
        t.hub.app.inject({
          method: 'POST',
          url: '/v1/events/batch',
          headers: { ...node, 'content-type': 'application/json', 'content-encoding': 'gzip' },
          payload: Buffer.from('not gzip at all'),
        }),
      400,
      'HUB_ERR_BAD_REQUEST',
    ],
  ])('refuses %s', async (_what, send, status, code) => {
    const res = await send();
    expect(res.statusCode, res.body).toBe(status);
    expect(res.json().code).toBe(code);
  });

  it.each([
    ['/v1/stores/nope/metrics?metric=footfall_in', 404, 'HUB_ERR_STORE_NOT_FOUND', 'viewer'],
    ['/v1/stores/sh-1/metrics?metric=footfall_in', 401, 'HUB_ERR_UNAUTHORIZED', 'none'],
    ['/v1/stores/sh-1/metrics?metric=visitors', 400, 'HUB_ERR_BAD_METRIC_QUERY', 'viewer'],
    ['/v1/stores/sh-1/metrics?metric=dwell&bucket=2h', 400, 'HUB_ERR_BAD_METRIC_QUERY', 'viewer'],
    [
      '/v1/stores/sh-1/metrics?metric=dwell&from=2025-03-11T00:00:00Z&to=2025-03-10T00:00:00Z',
      400,
      'HUB_ERR_BAD_TIME_RANGE',
      'viewer',
    ],
    ['/v1/stores/sh-1/metrics?metric=dwell&from=yesterday', 400, 'HUB_ERR_BAD_TIME_RANGE', 'viewer'],
    [
      '/v1/stores/sh-1/metrics?metric=dwell&bucket=1m&from=2025-01-01T00:00:00Z&to=2025-03-01T00:00:00Z',
      400,
      'HUB_ERR_BAD_TIME_RANGE',
      'viewer',
    ],
    ['/v1/metrics/compare?metric=dwell&stores=sh-1,nope', 404, 'HUB_ERR_STORE_NOT_FOUND', 'viewer'],
  ])('GET %s → %i %s', async (url, status, code, who) => {
    const res = await t.hub.app.inject({ url, headers: who === 'viewer' ? viewer : {} });
    expect(res.statusCode, res.body).toBe(status);
    expect(res.json().code).toBe(code);
  });

  it('refuses store changes from non-admins and bad time zones', async () => {
    const bad = await t.hub.app.inject({
      method: 'PUT',
      url: '/v1/stores/sh-1',
      headers: admin,
      payload: { timezone: 'Mars/Olympus' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('HUB_ERR_BAD_REQUEST');
    const viewerPut = await t.hub.app.inject({
      method: 'PUT',
      url: '/v1/stores/sh-1',
      headers: viewer,
      payload: { timezone: 'UTC' },
    });
    expect(viewerPut.json().code).toBe('HUB_ERR_FORBIDDEN');
    const badId = await t.hub.app.inject({
      method: 'PUT',
      url: '/v1/stores/a%20b',
      headers: admin,
      payload: { timezone: 'UTC' },
    });
    expect(badId.json().code).toBe('HUB_ERR_BAD_STORE_ID');
  });

  it('lets the dashboard’s cookie authorise reads, never writes', async () => {
    const token = viewer.authorization!.slice(7);
    const read = await t.hub.app.inject({
      url: '/v1/stores',
      headers: { cookie: `theme=x; sv_token=${token}` },
    });
    expect(read.statusCode).toBe(200);
    const nodeToken = node.authorization!.slice(7);
    const write = await t.hub.app.inject({
      method: 'POST',
      url: '/v1/events/batch',
      headers: { cookie: `sv_token=${nodeToken}` },
      payload: eventBatch('sh-1', []),
    });
    expect(write.statusCode).toBe(401);
    // A cookie that is not even URI-encoded properly is an unknown token, not a 500.
    const broken = await t.hub.app.inject({ url: '/v1/stores', headers: { cookie: 'sv_token=%E0%A4%A' } });
    expect(broken.statusCode).toBe(401);
  });

  it('tells live listeners (SSE) about each batch of their store', async () => {
    await t.hub.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (t.hub.app.server.address() as { port: number }).port;
    const abort = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/v1/live?store=sh-1`, {
      headers: viewer,
      signal: abort.signal,
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const next = async () => {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    };
    await next(); // retry: line
    await post(eventBatch('other-store', [])); // another store: not for this listener
    await post(eventBatch('sh-1', [ev.crossing('2025-03-10T02:40:00Z', 'door', 'in')]));
    while (!text.includes('event: ingest')) await next();
    const data = JSON.parse(/data: (.*)\n/.exec(text)![1]!);
    expect(data).toEqual({
      storeId: 'sh-1',
      nodeId: 'node-1',
      accepted: 1,
      lastEventTime: '2025-03-10T02:40:00.000Z',
      types: { line_crossing: 1 },
    });
    abort.abort();
  });

  it('prunes raw events past retention but keeps the rollups', async () => {
    const before = await metrics(`metric=footfall_in&bucket=1h&${day}`);
    // The raw events arrived just now (kept); the March minute rollups are past 30 days (gone).
    const pruned = await t.hub.ingest.prune();
    expect(pruned.events).toBe(0);
    expect(pruned.minuteRollups).toBeGreaterThan(0);
    // The level reports of March (capture time) are past it too.
    expect(pruned.levelSamples).toBeGreaterThan(0);
    const five = await metrics(
      'metric=occupancy&bucket=5m&from=2025-03-10T01:00:00Z&to=2025-03-10T01:15:00Z',
    );
    expect(five.total.n).toBe(0);
    expect((await metrics(`metric=footfall_in&bucket=1h&${day}`)).points).toEqual(before.points);
  });
});
