import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  personDetector,
  startTestHub,
  TEST_ADMIN_TOKEN,
  type TestHub,
  testDatabases,
} from './testing/hub-fixture.ts';
import { eventBatch, eventFactory } from './testing/store-events.ts';

/**
 * Tenant scoping on SQLite and a real PostgreSQL: a token issued with `stores: [...]` sees and
 * writes those stores only — the store list, metrics, comparison, cameras, nodes and the live
 * stream — and a request naming another store fails with a stable code, never with its data.
 */
const databases = testDatabases();
afterAll(() => databases.stop());

const TODAY = new Date().toISOString();

describe.each(BACKENDS)('tenant scoping on %s', (backend) => {
  let t: TestHub;
  const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  let hema: Record<string, string>;
  let hemaNode: Record<string, string>;
  let everyStore: Record<string, string>;

  const issue = async (body: object) => {
    const res = await t.hub.app.inject({ method: 'POST', url: '/v1/tokens', headers: admin, payload: body });
    return res;
  };
  const bearer = async (body: object) => {
    const res = await issue(body);
    expect(res.statusCode, res.body).toBe(201);
    return { authorization: `Bearer ${res.json().token as string}` };
  };
  const get = (url: string, headers: Record<string, string>) => t.hub.app.inject({ url, headers });
  const upload = (storeId: string, events: unknown[], headers: Record<string, string> = admin) =>
    t.hub.app.inject({
      method: 'POST',
      url: '/v1/events/batch',
      headers,
      payload: eventBatch(storeId, events, { timezone: 'UTC' }),
    });

  beforeAll(async () => {
    t = await startTestHub((dir) => databases.url(backend, dir), { eventPruneIntervalMs: 0 });
    // Two tenants: Hema (two stores) and another retailer (one store).
    for (const [storeId, n] of [
      ['hema-1', 3],
      ['hema-2', 2],
      ['other-1', 5],
    ] as const) {
      const ev = eventFactory({ storeId, cameraId: `${storeId}-door`, nodeId: `${storeId}-edge` });
      const res = await upload(
        storeId,
        Array.from({ length: n }, (_, i) => ev.crossing(TODAY, 'entrance', 'in', i + 1)),
      );
      expect(res.json().accepted, res.body).toBe(n);
    }
    hema = await bearer({ role: 'viewer', label: 'hema-regional', stores: ['hema-2', 'hema-1'] });
    hemaNode = await bearer({ role: 'node', stores: ['hema-1'] });
    everyStore = await bearer({ role: 'viewer' });
  });
  afterAll(() => t?.dispose());

  it('issues a scoped token and shows its scope, sorted, in the token list', async () => {
    const res = await issue({ role: 'viewer', stores: ['b', 'a', 'b'] });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().stores).toEqual(['a', 'b']);
    const unscoped = await issue({ role: 'viewer' });
    expect(unscoped.json().stores).toBeNull();
    const list = (await get('/v1/tokens', admin)).json().tokens as Array<{ id: string; stores: unknown }>;
    expect(list.find((x) => x.id === res.json().id)?.stores).toEqual(['a', 'b']);
  });

  it('refuses a scope on publisher and admin tokens, and bad store ids, with HUB_ERR_BAD_REQUEST', async () => {
    for (const body of [
      { role: 'publisher', stores: ['hema-1'] },
      { role: 'admin', stores: ['hema-1'] },
      { role: 'viewer', stores: [] },
      { role: 'viewer', stores: ['no spaces'] },
    ]) {
      const res = await issue(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().code).toBe('HUB_ERR_BAD_REQUEST');
    }
  });

  it('lists only the scoped stores in GET /v1/stores; an unscoped viewer sees all', async () => {
    const scoped = (await get('/v1/stores', hema)).json().stores as Array<{
      storeId: string;
      today: { footfallIn: number };
      nodes: { total: number };
    }>;
    expect(scoped.map((s) => [s.storeId, s.today.footfallIn, s.nodes.total])).toEqual([
      ['hema-1', 3, 1],
      ['hema-2', 2, 1],
    ]);
    const all = (await get('/v1/stores', everyStore)).json().stores as Array<{ storeId: string }>;
    expect(all.map((s) => s.storeId)).toEqual(['hema-1', 'hema-2', 'other-1']);
  });

  it('answers metrics and cameras of an in-scope store, and 404 HUB_ERR_STORE_NOT_FOUND for another tenant’s', async () => {
    const own = await get('/v1/stores/hema-1/metrics?metric=footfall_in&bucket=1d', hema);
    expect(own.statusCode, own.body).toBe(200);
    expect(own.json().total.value).toBe(3);
    for (const url of [
      '/v1/stores/other-1/metrics?metric=footfall_in&bucket=1d',
      '/v1/stores/other-1/cameras',
      '/v1/metrics/compare?metric=footfall_in&stores=hema-1,other-1',
    ]) {
      const res = await get(url, hema);
      expect(res.statusCode, url).toBe(404);
      expect(res.json().code).toBe('HUB_ERR_STORE_NOT_FOUND');
      // The same answer as for a store that does not exist: the other tenant's store is not told.
      expect(res.body).not.toContain('"value"');
    }
    const missing = await get('/v1/stores/no-such-store/metrics?metric=footfall_in', hema);
    expect(missing.json().code).toBe('HUB_ERR_STORE_NOT_FOUND');
    // The unscoped viewer still reads it.
    const other = await get('/v1/stores/other-1/metrics?metric=footfall_in&bucket=1d', everyStore);
    expect(other.json().total.value).toBe(5);
  });

  it('compares only the scoped stores when none are named', async () => {
    const res = await get('/v1/metrics/compare?metric=footfall_in&bucket=1d', hema);
    expect(res.statusCode, res.body).toBe(200);
    const stores = res.json().stores as Array<{ storeId: string; total: { value: number } }>;
    expect(stores.map((s) => [s.storeId, s.total.value])).toEqual([
      ['hema-1', 3],
      ['hema-2', 2],
    ]);
  });

  it('lists a store’s cameras with their owning node, and hides other tenants’ nodes', async () => {
    const res = await get('/v1/stores/hema-1/cameras', hema);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().cameras).toEqual([
      { cameraId: 'hema-1-door', nodeId: 'hema-1-edge', lastEventTime: new Date(TODAY).toISOString() },
    ]);
    // Nodes appear from events (store_nodes) and from enrolment/health (nodes): enrol one per tenant.
    for (const [nodeId, storeId] of [
      ['edge-h', 'hema-1'],
      ['edge-o', 'other-1'],
    ]) {
      const et = await t.hub.app.inject({
        method: 'POST',
        url: '/v1/enrolment-tokens',
        headers: admin,
        payload: { storeId },
      });
      const enrol = await t.hub.app.inject({
        method: 'POST',
        url: '/v1/nodes/enrol',
        payload: { enrolmentToken: et.json().token, nodeId, storeId },
      });
      expect(enrol.statusCode, enrol.body).toBe(201);
    }
    const nodes = (await get('/v1/nodes', hema)).json().nodes as Array<{ nodeId: string }>;
    expect(nodes.map((n) => n.nodeId)).toEqual(['edge-h']);
    expect((await get('/v1/nodes/edge-o', hema)).json().code).toBe('HUB_ERR_NODE_NOT_FOUND');
    expect((await get('/v1/nodes/edge-o', everyStore)).statusCode).toBe(200);
  });

  it('lets a scoped node upload for its store and refuses another with 403 HUB_ERR_STORE_OUT_OF_SCOPE', async () => {
    // A camera of its own: the factory's ids restart per factory, and the seeding used `hema-1-door`.
    const ev = eventFactory({ storeId: 'hema-1', cameraId: 'hema-1-till', nodeId: 'hema-1-edge' });
    const ok = await upload('hema-1', [ev.crossing(TODAY, 'entrance', 'out', 9)], hemaNode);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().accepted).toBe(1);
    const evil = eventFactory({ storeId: 'other-1', cameraId: 'x' });
    const refused = await upload('other-1', [evil.crossing(TODAY, 'entrance', 'in', 99)], hemaNode);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('HUB_ERR_STORE_OUT_OF_SCOPE');
    // Nothing of it was stored: still five in.
    const other = await get('/v1/stores/other-1/metrics?metric=footfall_in&bucket=1d', everyStore);
    expect(other.json().total.value).toBe(5);
  });

  it('scopes an enrolled node’s token to the store it enrolled for', async () => {
    const et = await t.hub.app.inject({
      method: 'POST',
      url: '/v1/enrolment-tokens',
      headers: admin,
      payload: { storeId: 'hema-2' },
    });
    const enrol = await t.hub.app.inject({
      method: 'POST',
      url: '/v1/nodes/enrol',
      payload: { enrolmentToken: et.json().token, nodeId: 'edge-h2', storeId: 'hema-2' },
    });
    const node = { authorization: `Bearer ${enrol.json().token as string}` };
    const refused = await upload('other-1', [], node);
    expect(refused.json().code).toBe('HUB_ERR_STORE_OUT_OF_SCOPE');
    expect((await upload('hema-2', [], node)).statusCode).toBe(200);
  });

  it('streams live notices of the scoped stores only, and refuses ?store= of another tenant', async () => {
    await t.hub.app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(t.hub.app.server.address() as { port: number }).port}`;
    const refused = await fetch(`${base}/v1/live?store=other-1`, { headers: hema });
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as { code: string }).code).toBe('HUB_ERR_STORE_NOT_FOUND');

    const abort = new AbortController();
    const res = await fetch(`${base}/v1/live`, { headers: hema, signal: abort.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    await reader.read(); // the `retry:` preamble: the subscription is in place
    // Another tenant's batch first, then our own: only ours may come through.
    await upload('other-1', [
      eventFactory({ storeId: 'other-1', cameraId: 'live' }).crossing(TODAY, 'e', 'in'),
    ]);
    await upload('hema-2', [
      eventFactory({ storeId: 'hema-2', cameraId: 'live' }).crossing(TODAY, 'e', 'in'),
    ]);
    while (!text.includes('"storeId":"hema-2"')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    abort.abort();
    expect(text).toContain('"storeId":"hema-2"');
    expect(text).not.toContain('other-1');
  });
  it('shows a scoped viewer only its stores of a rollout, and another tenant’s rollout as unknown', async () => {
    for (const version of ['1.0.0', '1.1.0']) {
      const { content, manifest } = await personDetector({ version });
      await t.publish(manifest, content, { filename: 'm.onnx' });
    }
    for (const storeId of ['hema-1', 'other-1']) {
      const node = await bearer({ role: 'node' });
      const res = await t.hub.app.inject({
        method: 'PUT',
        url: `/v1/nodes/${storeId}-box/health`,
        headers: node,
        payload: {
          storeId,
          models: [
            {
              name: 'person-detector',
              version: '1.0.0',
              state: 'ready',
              runs: 1,
              errors: 0,
              errorRate: 0,
              p50Ms: 1,
              p99Ms: 2,
            },
          ],
        },
      });
      expect(res.statusCode, res.body).toBeLessThan(300);
    }
    const created = await t.hub.app.inject({
      method: 'POST',
      url: '/v1/rollouts',
      headers: admin,
      payload: {
        model: 'person-detector',
        version: '1.1.0',
        target: { stores: ['hema-1', 'other-1'] },
        waves: [
          { stores: ['hema-1'], holdSeconds: 0 },
          { stores: ['other-1'], holdSeconds: 0 },
        ],
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id as string;

    const whole = (await get(`/v1/rollouts/${id}`, everyStore)).json();
    expect(whole.stores.map((x: { storeId: string }) => x.storeId).sort()).toEqual(['hema-1', 'other-1']);
    const seen = (await get(`/v1/rollouts/${id}`, hema)).json();
    expect(seen.stores.map((x: { storeId: string }) => x.storeId)).toEqual(['hema-1']);
    expect(seen.waves.flatMap((w: { stores: string[] }) => w.stores)).toEqual(['hema-1']);
    const listed = (await get('/v1/rollouts', hema)).json().rollouts as Array<{
      stores: Array<{ storeId: string }>;
    }>;
    expect(listed.flatMap((r) => r.stores.map((x) => x.storeId))).toEqual(['hema-1']);

    const otherTenant = await bearer({ role: 'viewer', stores: ['hema-2'] });
    expect((await get(`/v1/rollouts/${id}`, otherTenant)).json().code).toBe('HUB_ERR_ROLLOUT_NOT_FOUND');
    expect((await get('/v1/rollouts', otherTenant)).json().rollouts).toEqual([]);
  });
});
