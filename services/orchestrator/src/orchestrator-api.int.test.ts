import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { NodeAssignment, NodeView, StorePlacement } from '@storevision/contracts';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { createOrchestrator, type Orchestrator } from './orchestrator.ts';
import { nodeReport } from './testing/node-report.ts';

let dir: string;
let orch: Orchestrator;
const logger = pino({ level: 'silent' });

async function start(o: { heartbeatTimeoutMs?: number } = {}) {
  orch = await createOrchestrator(
    loadConfig({}, { dataDir: dir, heartbeatTimeoutMs: o.heartbeatTimeoutMs ?? 60_000, sweepIntervalMs: 20 }),
    { logger },
  );
  return orch;
}
const put = (url: string, payload: unknown) =>
  orch.app.inject({ method: 'PUT', url, payload: payload as object });
const get = (url: string, headers: Record<string, string> = {}) =>
  orch.app.inject({ method: 'GET', url, headers });
const camera = (models = ['person-detector', 'product-detector'], extra: object = {}) => ({
  source: 'push',
  fps: 5,
  pipelines: models.map((model) => ({ model, minFps: 2 })),
  ...extra,
});
const placements = async () => (await get('/v1/placements')).json().placements as StorePlacement[];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sv-orch-'));
});
afterEach(async () => {
  await orch?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('orchestrator API', () => {
  it('registers nodes, places six cameras with two pipelines on three nodes, heavy models on the GPU', async () => {
    await start();
    expect((await put('/v1/nodes/a', nodeReport('s1'))).statusCode).toBe(201);
    expect((await put('/v1/nodes/b', nodeReport('s1'))).statusCode).toBe(201);
    expect((await put('/v1/nodes/g', nodeReport('s1', { gpu: true }))).statusCode).toBe(201);
    expect((await put('/v1/nodes/a', nodeReport('s1'))).statusCode).toBe(200);
    await put('/v1/models/product-detector/requirements', { preferGpu: true });
    for (let i = 0; i < 6; i++)
      expect((await put(`/v1/stores/s1/cameras/cam${i}`, camera())).statusCode).toBe(201);
    const [p] = await placements();
    expect(p!.pipelines).toHaveLength(12);
    expect(p!.shed).toEqual([]);
    expect(p!.pipelines.filter((x) => x.model === 'product-detector').every((x) => x.nodeId === 'g')).toBe(
      true,
    );
    const nodes = (await get('/v1/nodes')).json().nodes as NodeView[];
    expect(nodes.map((n) => [n.nodeId, n.status])).toEqual([
      ['a', 'ready'],
      ['b', 'ready'],
      ['g', 'ready'],
    ]);
    expect(nodes.every((n) => n.plannedUtilization <= 0.8)).toBe(true);
    const cams = (await get('/v1/stores/s1/cameras')).json().cameras;
    expect(cams).toHaveLength(6);
    const res = await get('/v1/nodes/g/assignment');
    expect(res.headers.etag).toMatch(/^"\d+"$/);
    const a = res.json() as NodeAssignment;
    expect(a.cameras).toHaveLength(6);
    expect(a.store.nodes.map((n) => n.nodeId)).toEqual(['a', 'b', 'g']);
    expect(Object.keys(a.store.owners)).toHaveLength(6);
  });

  it('answers bad input with clear errors', async () => {
    await start();
    const unknown = await put('/v1/stores/nowhere/cameras/c1', camera());
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ code: 'ORCH_ERR_UNKNOWN_STORE' });
    await put('/v1/nodes/a', nodeReport('s1'));
    const empty = await put('/v1/stores/s1/cameras/c1', { fps: 5, pipelines: [] });
    expect(empty.json()).toMatchObject({ code: 'ORCH_ERR_NO_PIPELINES' });
    expect(empty.statusCode).toBe(400);
    expect((await put('/v1/stores/s1/cameras/c1', { fps: 5 })).json().code).toBe('ORCH_ERR_NO_PIPELINES');
    const minAbove = await put('/v1/stores/s1/cameras/c1', {
      fps: 5,
      pipelines: [{ model: 'person-detector', minFps: 9 }],
    });
    expect(minAbove.json()).toMatchObject({ code: 'ORCH_ERR_BAD_CAMERA' });
    expect(minAbove.json().message).toContain('pipelines.0.minFps');
    const badSource = await put('/v1/stores/s1/cameras/c1', { ...camera(), source: 'ftp://x' });
    expect(badSource.json().message).toContain('source');
    const malformed = nodeReport('s1') as { capabilities: Record<string, unknown> };
    malformed.capabilities.cores = -2;
    malformed.capabilities.executionProviders = ['quantum'];
    const bad = await put('/v1/nodes/b', malformed);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('ORCH_ERR_BAD_CAPABILITIES');
    expect(bad.json().message).toMatch(/capabilities\.cores/);
    expect(bad.json().message).toMatch(/capabilities\.executionProviders\.0/);
    expect((await put('/v1/nodes/bad%20id', nodeReport('s1'))).json().code).toBe('ORCH_ERR_BAD_ID');
    // a node pool belongs to one store
    await put('/v1/nodes/p1', nodeReport('s1', { nodePool: 'pool-x' }));
    const conflict = await put('/v1/nodes/p2', nodeReport('s2', { nodePool: 'pool-x' }));
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().code).toBe('ORCH_ERR_LABEL_CONFLICT');
    expect((await get('/v1/nodes/ghost/assignment')).json().code).toBe('ORCH_ERR_NODE_NOT_FOUND');
    expect((await get('/v1/nowhere')).json().code).toBe('ORCH_ERR_NOT_FOUND');
  });

  it('states exactly what it could not place: a model no node runs, a store short of capacity', async () => {
    await start();
    await put(
      '/v1/nodes/a',
      nodeReport('s1', { models: ['person-detector'], fps: { 'person-detector': 20 } }),
    );
    await put('/v1/stores/s1/cameras/c1', camera(['face-recognizer']));
    for (let i = 0; i < 10; i++)
      await put(`/v1/stores/s1/cameras/p${i}`, {
        fps: 10,
        pipelines: [{ model: 'person-detector', minFps: 2, priority: i < 6 ? 1 : 0 }],
      });
    const [p] = await placements();
    const shed = Object.fromEntries(p!.shed.map((s) => [s.cameraId, s]));
    expect(shed.c1).toMatchObject({ reason: 'no_eligible_node', model: 'face-recognizer' });
    expect(shed.c1!.detail).toContain('a has not loaded face-recognizer');
    // 0.8 × 20 fps = 16 fps for 10 cameras wanting 10 fps at least 2: 8 fit at 2 fps, 2 of priority 0 dropped.
    expect(p!.pipelines).toHaveLength(8);
    expect(p!.shed.filter((s) => s.reason === 'capacity').map((s) => s.cameraId)).toHaveLength(2);
    expect(p!.shed.filter((s) => s.reason === 'capacity').every((s) => /^p[6-9]$/.test(s.cameraId))).toBe(
      true,
    );
    const metrics = (await get('/metrics')).body;
    expect(metrics).toMatch(/orch_pipelines\{state="capacity"\} 2/);
    expect(metrics).toMatch(/orch_nodes\{status="ready"\} 1/);
  });

  it('marks a silent node lost, moves its cameras, and long-polls wake the new owner', async () => {
    await start({ heartbeatTimeoutMs: 300 });
    await put('/v1/nodes/a', nodeReport('s1'));
    await put('/v1/nodes/b', nodeReport('s1'));
    const bSilentFrom = Date.now(); // b's last heartbeat
    for (let i = 0; i < 4; i++) await put(`/v1/stores/s1/cameras/cam${i}`, camera(['person-detector']));
    const before = (await placements())[0]!;
    const onB = before.pipelines.filter((p) => p.nodeId === 'b').map((p) => p.cameraId);
    expect(onB.length).toBe(2);
    const etag = (await get('/v1/nodes/a/assignment')).headers.etag as string;
    // a keeps heartbeating, b goes silent
    const beat = setInterval(() => void put('/v1/nodes/a', nodeReport('s1')), 50);
    try {
      const t0 = Date.now();
      const res = await get('/v1/nodes/a/assignment?wait=5', { 'if-none-match': etag });
      const waited = Date.now() - t0;
      expect(res.statusCode).toBe(200);
      // Held until b had been silent past the 300 ms timeout, counted from b's last heartbeat (the
      // set-up above takes part of it, tens of ms on a busy machine), then answered at once.
      expect(Date.now() - bSilentFrom).toBeGreaterThan(250);
      expect(waited).toBeLessThan(1500);
      const a = res.json() as NodeAssignment;
      expect(a.cameras.map((c) => c.cameraId).sort()).toEqual(['cam0', 'cam1', 'cam2', 'cam3']);
      expect(a.store.nodes.find((n) => n.nodeId === 'b')!.status).toBe('lost');
      expect(((await get('/v1/nodes/b/assignment')).json() as NodeAssignment).cameras).toEqual([]);
      // b returns: a has room for everything, so nothing moves back
      await put('/v1/nodes/b', nodeReport('s1'));
      const after = (await placements())[0]!;
      expect(after.pipelines.every((p) => p.nodeId === 'a')).toBe(true);
      expect((await get('/v1/nodes')).json().nodes.map((n: NodeView) => n.status)).toEqual([
        'ready',
        'ready',
      ]);
    } finally {
      clearInterval(beat);
    }
  });

  it('answers 304 when a long-poll ends without a change', async () => {
    await start();
    await put('/v1/nodes/a', nodeReport('s1'));
    const first = await get('/v1/nodes/a/assignment');
    const res = await get('/v1/nodes/a/assignment?wait=0.2', {
      'if-none-match': first.headers.etag as string,
    });
    expect(res.statusCode).toBe(304);
    expect((await get('/v1/nodes/a/assignment?wait=-1')).json().code).toBe('ORCH_ERR_BAD_REQUEST');
  });

  it('keeps its plan across a restart (snapshot in the data dir)', async () => {
    await start();
    await put('/v1/nodes/a', nodeReport('s1'));
    await put('/v1/nodes/b', nodeReport('s1'));
    for (let i = 0; i < 4; i++) await put(`/v1/stores/s1/cameras/cam${i}`, camera(['person-detector']));
    const before = (await placements())[0]!;
    await orch.close();
    await start();
    const after = (await placements())[0]!;
    expect(after.pipelines).toEqual(before.pipelines);
    expect((await get('/v1/stores/s1/cameras')).json().cameras).toHaveLength(4);
    // heartbeats re-plan nothing
    await put('/v1/nodes/a', nodeReport('s1'));
    expect((await placements())[0]!.version).toBe(before.version);
  });

  it('serves health, readiness and its OpenAPI description', async () => {
    await start();
    expect((await get('/healthz')).json()).toEqual({ status: 'ok' });
    expect((await get('/readyz')).statusCode).toBe(200);
    const spec = (await get('/openapi.json')).json();
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining(['/v1/nodes/{nodeId}', '/v1/nodes/{nodeId}/assignment', '/v1/placements']),
    );
  });
});
