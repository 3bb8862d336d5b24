import { desiredStateSchema, type Rollout } from '@storevision/contracts';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  personDetector,
  startTestHub,
  TEST_ADMIN_TOKEN,
  type TestHub,
  testDatabases,
} from './testing/hub-fixture.ts';

/**
 * Enrolment, desired state (ETag + long-poll), health reports and rollouts (waves, health gates,
 * automatic rollback, manual pause/promote/rollback) against SQLite and a real PostgreSQL.
 */
const databases = testDatabases();
afterAll(() => databases.stop());

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const admin = bearer(TEST_ADMIN_TOKEN);

describe.each(BACKENDS)('nodes and rollouts on %s', (backend) => {
  let t: TestHub;
  let publisher: Record<string, string>;
  let viewer: Record<string, string>;
  /** Node tokens by node id, from enrolment. */
  const nodeTokens: Record<string, Record<string, string>> = {};

  beforeAll(async () => {
    t = await startTestHub((dir) => databases.url(backend, dir), { rolloutTickMs: 50 });
    publisher = bearer(await t.token('publisher'));
    viewer = bearer(await t.token('viewer'));
    for (const version of ['1.0.0', '1.1.0', '1.2.0', '1.3.0']) {
      const { content, manifest } = await personDetector({ version });
      await t.publish(manifest, content, { headers: publisher });
    }
  });
  afterAll(() => t?.dispose());

  const inject = (opts: InjectOptions) => t.hub.app.inject(opts);

  async function report(nodeId: string, storeId: string, model: Record<string, unknown>) {
    return inject({
      method: 'PUT',
      url: `/v1/nodes/${nodeId}/health`,
      headers: nodeTokens[nodeId]!,
      payload: {
        storeId,
        models: [
          {
            name: 'person-detector',
            state: 'ready',
            runs: 100,
            errors: 0,
            errorRate: 0,
            p50Ms: 10,
            p99Ms: 20,
            ...model,
          },
        ],
      },
    });
  }

  async function desired(nodeId: string) {
    const res = await inject({ url: `/v1/nodes/${nodeId}/models`, headers: nodeTokens[nodeId]! });
    expect(res.statusCode, res.body).toBe(200);
    return desiredStateSchema.parse(res.json());
  }

  async function rollout(id: string): Promise<Rollout> {
    const res = await inject({ url: `/v1/rollouts/${id}`, headers: viewer });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  }

  async function until(id: string, pred: (r: Rollout) => boolean, ms = 10_000): Promise<Rollout> {
    const end = Date.now() + ms;
    for (;;) {
      const r = await rollout(id);
      if (pred(r)) return r;
      if (Date.now() > end) throw new Error(`rollout ${id} stuck: ${JSON.stringify(r)}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  it('enrols nodes with an admin-issued enrolment token, each with its own node token', async () => {
    expect(
      (await inject({ method: 'POST', url: '/v1/enrolment-tokens', headers: publisher })).statusCode,
    ).toBe(403);
    const et = await inject({
      method: 'POST',
      url: '/v1/enrolment-tokens',
      headers: admin,
      payload: { maxUses: 2, storeId: 's1' },
    });
    expect(et.statusCode, et.body).toBe(201);
    const enrolmentToken = et.json().token as string;
    const enrol = (nodeId: string, storeId: string, token = enrolmentToken) =>
      inject({ method: 'POST', url: '/v1/nodes/enrol', payload: { enrolmentToken: token, nodeId, storeId } });

    // Issued for store s1: a node of another store cannot use it.
    const wrongStore = await enrol('b1', 's2');
    expect(wrongStore.statusCode).toBe(401);
    expect(wrongStore.json().code).toBe('HUB_ERR_ENROLMENT_REFUSED');
    const a1 = await enrol('a1', 's1');
    expect(a1.statusCode, a1.body).toBe(201);
    nodeTokens.a1 = bearer(a1.json().token);
    const a2 = await enrol('a2', 's1');
    expect(a2.statusCode).toBe(201);
    nodeTokens.a2 = bearer(a2.json().token);
    // Two uses, both taken (the wrong-store try took none).
    const used = await enrol('a3', 's1');
    expect(used.statusCode).toBe(401);
    expect((await enrol('x', 's1', 'sve_not-a-real-token-xxxxxxxx')).json().code).toBe(
      'HUB_ERR_ENROLMENT_REFUSED',
    );

    // Store s2's node enrols with a token of its own.
    const et2 = await inject({ method: 'POST', url: '/v1/enrolment-tokens', headers: admin, payload: {} });
    const b1 = await enrol('b1', 's2', et2.json().token);
    expect(b1.statusCode).toBe(201);
    nodeTokens.b1 = bearer(b1.json().token);

    // A node token reads and reports for its own node only.
    expect((await desired('a1')).models).toEqual([]);
    const other = await inject({ url: '/v1/nodes/b1/models', headers: nodeTokens.a1! });
    expect(other.statusCode).toBe(403);
    expect(other.json().code).toBe('HUB_ERR_NODE_TOKEN_MISMATCH');
    // Viewers cannot read desired state (role node or higher) nor report health.
    expect((await inject({ url: '/v1/nodes/a1/models', headers: viewer })).statusCode).toBe(403);
    expect((await inject({ url: '/v1/nodes/a1/models' })).json().code).toBe('HUB_ERR_UNAUTHORIZED');
  });

  it('refuses bad node ids and bad health reports with stable codes', async () => {
    const bad = await inject({ url: '/v1/nodes/bad%20id!/models', headers: admin });
    expect(bad.json().code).toBe('HUB_ERR_BAD_NODE_ID');
    const r = await inject({
      method: 'PUT',
      url: '/v1/nodes/a1/health',
      headers: nodeTokens.a1!,
      payload: { storeId: 's1', models: [{ name: 'person-detector', version: 'nope' }] },
    });
    expect(r.statusCode).toBe(400);
    expect(r.json().code).toBe('HUB_ERR_BAD_HEALTH_REPORT');
    for (const [id, store] of [
      ['a1', 's1'],
      ['a2', 's1'],
      ['b1', 's2'],
    ] as const)
      expect((await report(id, store, { version: '1.0.0' })).statusCode).toBe(204);
  });

  it('refuses bad rollouts: wrong role, bad waves, unknown version, no targets, unknown id', async () => {
    const post = (payload: unknown, headers = publisher) =>
      inject({ method: 'POST', url: '/v1/rollouts', headers, payload: payload as Record<string, unknown> });
    const ok = { model: 'person-detector', version: '1.1.0', waves: [{ percent: 100, holdSeconds: 0 }] };
    expect((await post(ok, viewer)).json().code).toBe('HUB_ERR_FORBIDDEN');
    expect((await post(ok, nodeTokens.a1!)).json().code).toBe('HUB_ERR_FORBIDDEN');
    for (const waves of [
      [],
      [{ percent: 60 }, { percent: 50 }],
      [{ percent: 50 }],
      [{ stores: ['s1'] }],
      [{ stores: ['s9'] }, { percent: 100 }],
      [{ percent: 50, stores: ['s1'] }],
    ]) {
      const r = await post({ ...ok, waves });
      expect(r.statusCode, JSON.stringify(waves)).toBe(400);
      expect(r.json().code, JSON.stringify(waves)).toBe('HUB_ERR_BAD_WAVES');
    }
    expect((await post({ ...ok, version: undefined })).json().code).toBe('HUB_ERR_BAD_ROLLOUT');
    expect((await post({ ...ok, version: '9.9.9' })).json().code).toBe('HUB_ERR_VERSION_NOT_FOUND');
    expect((await post({ ...ok, target: { stores: ['nowhere'] } })).json().code).toBe(
      'HUB_ERR_NO_TARGET_NODES',
    );
    const missing = await inject({ url: '/v1/rollouts/ro_nope', headers: viewer });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('HUB_ERR_ROLLOUT_NOT_FOUND');
    expect(
      (await inject({ method: 'POST', url: '/v1/rollouts/ro_nope/pause', headers: publisher })).statusCode,
    ).toBe(404);
  });

  it('rolls a version out wave by wave as the edges report it healthy; long-polls wake at once', async () => {
    const first = await desired('a1');
    // A long-poll with the current ETag waits …
    const t0 = Date.now();
    const poll = inject({
      url: '/v1/nodes/a1/models?wait=20',
      headers: { ...nodeTokens.a1!, 'if-none-match': first.etag },
    });
    await new Promise((r) => setTimeout(r, 200));
    const created = await inject({
      method: 'POST',
      url: '/v1/rollouts',
      headers: publisher,
      payload: {
        model: 'person-detector',
        version: '1.1.0',
        waves: [
          { percent: 50, holdSeconds: 0 },
          { percent: 100, holdSeconds: 0 },
        ],
        health: { maxErrorRate: 0.05, maxP99LatencyMs: 500 },
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const ro = created.json() as Rollout;
    expect(ro).toMatchObject({ state: 'running', currentWave: 0, version: '1.1.0' });
    expect(ro.waves.map((w) => w.stores)).toEqual([['s1'], ['s2']]);
    // … and is answered as soon as the rollout changes the node's desired state.
    const woke = await poll;
    expect(woke.statusCode).toBe(200);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(woke.headers.etag).not.toBe(first.etag);
    expect(desiredStateSchema.parse(woke.json()).models.map((m) => [m.name, m.version, m.rolloutId])).toEqual(
      [['person-detector', '1.1.0', ro.id]],
    );
    // The unchanged state answers 304 to its ETag.
    const same = await inject({
      url: '/v1/nodes/a1/models',
      headers: { ...nodeTokens.a1!, 'if-none-match': woke.headers.etag as string },
    });
    expect(same.statusCode).toBe(304);
    // Store s2 is in wave 2: nothing for it yet; a second rollout of the model conflicts.
    expect((await desired('b1')).models).toEqual([]);
    const conflict = await inject({
      method: 'POST',
      url: '/v1/rollouts',
      headers: publisher,
      payload: { model: 'person-detector', version: '1.2.0', waves: [{ percent: 100 }] },
    });
    expect(conflict.json().code).toBe('HUB_ERR_ROLLOUT_CONFLICT');

    // One node of s1 switched: still waiting for the other.
    await report('a1', 's1', { version: '1.1.0' });
    expect((await rollout(ro.id)).currentWave).toBe(0);
    await report('a2', 's1', { version: '1.1.0' });
    const wave2 = await until(ro.id, (r) => r.currentWave === 1);
    expect(wave2.stores.find((s) => s.storeId === 's1')!.state).toBe('healthy');
    expect((await desired('b1')).models[0]!.version).toBe('1.1.0');
    await report('b1', 's2', { version: '1.1.0' });
    const done = await until(ro.id, (r) => r.state === 'completed');
    expect(done.stores.map((s) => [s.storeId, s.state])).toEqual([
      ['s1', 'healthy'],
      ['s2', 'healthy'],
    ]);
    expect(done.stores[0]!.nodes[0]).toMatchObject({
      nodeId: 'a1',
      previousVersion: '1.0.0',
      reportedVersion: '1.1.0',
    });
  });

  it('pauses on a failed load and rolls that wave back to the previous version by itself', async () => {
    const created = await inject({
      method: 'POST',
      url: '/v1/rollouts',
      headers: publisher,
      payload: {
        model: 'person-detector',
        version: '1.2.0',
        waves: [{ stores: ['s1'], holdSeconds: 0 }, { percent: 100 }],
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = (created.json() as Rollout).id;
    expect((await desired('a1')).models[0]!.version).toBe('1.2.0');
    await report('a2', 's1', { version: '1.2.0' });
    await report('a1', 's1', {
      version: '1.1.0',
      state: 'failed',
      failedVersion: '1.2.0',
      error: { code: 'EDGE_ERR_MODEL_LOAD_FAILED', message: 'warm-up failed' },
    });
    const paused = await until(id, (r) => r.state === 'paused');
    expect(paused.reason).toContain('a1');
    expect(paused.reason).toContain('EDGE_ERR_MODEL_LOAD_FAILED');
    const s1 = paused.stores.find((s) => s.storeId === 's1')!;
    expect(s1.state).toBe('failed');
    expect(s1.nodes.map((n) => [n.nodeId, n.state])).toEqual([
      ['a1', 'failed'],
      ['a2', 'rolled_back'],
    ]);
    // Both s1 nodes are told to go back to what they ran; s2 never got the version.
    expect((await desired('a1')).models[0]!.version).toBe('1.1.0');
    expect((await desired('a2')).models[0]!.version).toBe('1.1.0');
    expect((await desired('b1')).models[0]!.version).toBe('1.1.0');

    // Manual: rollback of the paused rollout ends it; promote then answers 409.
    const rb = await inject({ method: 'POST', url: `/v1/rollouts/${id}/rollback`, headers: publisher });
    expect(rb.json().state).toBe('rolled_back');
    const promote = await inject({ method: 'POST', url: `/v1/rollouts/${id}/promote`, headers: publisher });
    expect(promote.statusCode).toBe(409);
    expect(promote.json().code).toBe('HUB_ERR_ROLLOUT_STATE');
  });

  it('pauses on an error-rate breach; pause, promote and rollback by hand', async () => {
    const created = await inject({
      method: 'POST',
      url: '/v1/rollouts',
      headers: publisher,
      payload: {
        model: 'person-detector',
        version: '1.3.0',
        target: { stores: ['s1'] },
        waves: [{ percent: 100, holdSeconds: 3600 }],
        health: { maxErrorRate: 0.01, maxP99LatencyMs: 100 },
      },
    });
    const id = (created.json() as Rollout).id;
    await report('a1', 's1', { version: '1.3.0' });
    await report('a2', 's1', { version: '1.3.0', runs: 100, errors: 10, errorRate: 0.1 });
    const paused = await until(id, (r) => r.state === 'paused');
    expect(paused.reason).toMatch(/a2.*error rate 0\.100 > 0\.01/);
    expect((await desired('a2')).models[0]!.version).toBe('1.1.0');

    // Promote resumes by re-applying the wave; healthy reports then hold (3600 s) …
    const resumed = await inject({ method: 'POST', url: `/v1/rollouts/${id}/promote`, headers: publisher });
    expect(resumed.json().state).toBe('running');
    expect((await desired('a2')).models[0]!.version).toBe('1.3.0');
    await report('a1', 's1', { version: '1.3.0' });
    await report('a2', 's1', { version: '1.3.0' });
    await new Promise((r) => setTimeout(r, 300));
    expect((await rollout(id)).state).toBe('running');
    // … pause stops it, a second pause is a state error, promote skips the hold and completes.
    const paused2 = await inject({ method: 'POST', url: `/v1/rollouts/${id}/pause`, headers: publisher });
    expect(paused2.json().state).toBe('paused');
    expect(
      (await inject({ method: 'POST', url: `/v1/rollouts/${id}/pause`, headers: publisher })).statusCode,
    ).toBe(409);
    await inject({ method: 'POST', url: `/v1/rollouts/${id}/promote`, headers: publisher });
    await inject({ method: 'POST', url: `/v1/rollouts/${id}/promote`, headers: publisher });
    const done = await until(id, (r) => r.state === 'completed');
    expect(done.stores[0]!.state).toBe('healthy');
    // Rolling back a completed rollout sends its nodes back to what they ran before it.
    const rb = await inject({ method: 'POST', url: `/v1/rollouts/${id}/rollback`, headers: publisher });
    expect(rb.json().state).toBe('rolled_back');
    expect((await desired('a1')).models[0]!.version).toBe('1.1.0');
    const list = await inject({ url: '/v1/rollouts', headers: viewer });
    expect(list.json().rollouts.length).toBe(3);
  });
});
