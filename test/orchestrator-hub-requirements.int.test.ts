import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type RunningOrchestrator, startOrchestrator } from '@storevision/orchestrator';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../services/inference-edge/src/testing/edge-fixture.ts';
import {
  PERSON_DETECTOR_ONNX,
  personDetectorManifest,
} from '../services/inference-edge/src/testing/model-packages.ts';
import {
  startTestHub,
  TEST_ADMIN_TOKEN,
  type TestHub,
} from '../services/model-hub/src/testing/hub-fixture.ts';
import { nodeReport } from '../services/orchestrator/src/testing/node-report.ts';

/**
 * Issue 7, inventory: model requirements "from the manifest and the hub". A real hub with two
 * published models (the bundled CPU detector, and the same network published as a variant for
 * CUDA and CPU), a real orchestrator started with `hubUrl`/`hubToken`: requirements follow the
 * manifests (EPs, GPU preference, memory from the weights), a GPU box gets the GPU model, an
 * operator's own requirements are never overwritten, and a model the hub does not have keeps
 * the defaults.
 */
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
let hub: TestHub;
let orch: RunningOrchestrator;
let dataDir: string;
let size: number;

async function publish(
  name: string,
  variants?: (v: Record<string, unknown>) => Array<Record<string, unknown>>,
) {
  const m = await personDetectorManifest();
  const manifest = {
    ...m,
    name,
    version: '1.0.0',
    ...(variants ? { variants: variants(m.variants[0]!) } : {}),
  };
  const content = await readFile(PERSON_DETECTOR_ONNX);
  size = content.length;
  await hub.publish(manifest, content);
}

const api = async (method: string, url: string, body?: unknown) => {
  const res = await fetch(`${orch.url}${url}`, {
    method,
    ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
};
const requirements = async (model: string) => (await api('GET', `/v1/models/${model}/requirements`)).json;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'sv-orch-hub-'));
  hub = await startTestHub(async (dir) => `sqlite:${path.join(dir, 'hub.sqlite')}`);
  await hub.hub.app.listen({ port: 0, host: '127.0.0.1' });
  const hubUrl = `http://127.0.0.1:${(hub.hub.app.server.address() as { port: number }).port}`;
  await publish('person-detector');
  // Published for GPU boxes: its one variant runs on CUDA (and on the CPU).
  await publish('shelf-detector', (v) => [{ ...v, id: 'fp32-gpu', executionProviders: ['cuda', 'cpu'] }]);
  const viewer = (
    await hub.hub.app.inject({
      method: 'POST',
      url: '/v1/tokens',
      headers: admin,
      payload: { role: 'viewer', label: 'orchestrator' },
    })
  ).json().token as string;
  orch = await startOrchestrator(
    loadConfig({}, { port: 0, host: '127.0.0.1', dataDir, hubUrl, hubToken: viewer }),
    { logger: pino({ level: 'silent' }) },
  );
  expect(
    (
      await api(
        'PUT',
        '/v1/nodes/cpu-box',
        nodeReport('s1', { models: ['person-detector', 'shelf-detector'] }),
      )
    ).status,
  ).toBe(201);
  expect(
    (
      await api(
        'PUT',
        '/v1/nodes/gpu-box',
        nodeReport('s1', { gpu: true, models: ['person-detector', 'shelf-detector'] }),
      )
    ).status,
  ).toBe(201);
}, 60_000);

afterAll(async () => {
  await orch?.close();
  await hub?.dispose();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('model requirements from the hub', () => {
  it('derives requirements from the published manifests once a camera uses the models', async () => {
    const camera = {
      source: 'push',
      fps: 5,
      pipelines: [
        { model: 'person-detector', minFps: 2 },
        { model: 'shelf-detector', minFps: 2 },
      ],
    };
    expect((await api('PUT', '/v1/stores/s1/cameras/cam-1', camera)).status).toBe(201);
    const shelf = await waitFor(async () => {
      const r = await requirements('shelf-detector');
      return r.source === 'hub' ? r : undefined;
    });
    expect(shelf).toMatchObject({
      executionProviders: ['cpu', 'cuda'],
      preferGpu: true,
      memoryBytes: 64 * 1024 * 1024 + 4 * size,
    });
    expect(await requirements('person-detector')).toMatchObject({
      source: 'hub',
      executionProviders: ['cpu'],
      preferGpu: false,
      memoryBytes: 64 * 1024 * 1024 + 4 * size,
    });
    // The GPU-preferring model lands on the GPU box.
    const placements = await waitFor(async () => {
      const p = (await api('GET', '/v1/placements?store=s1')).json as {
        placements: Array<{ pipelines: Array<{ model: string; nodeId: string }> }>;
      };
      const shelfOn = p.placements[0]?.pipelines.find((x) => x.model === 'shelf-detector')?.nodeId;
      return shelfOn ? shelfOn : undefined;
    });
    expect(placements).toBe('gpu-box');
  });

  it("never overwrites an operator's requirements, and keeps the defaults for a model the hub lacks", async () => {
    const own = await api('PUT', '/v1/models/person-detector/requirements', { memoryBytes: 1_000_000_000 });
    expect(own.status).toBe(200);
    expect(own.json.source).toBe('api');
    const camera = {
      source: 'push',
      fps: 5,
      pipelines: [
        { model: 'person-detector', minFps: 2 },
        { model: 'unpublished-model', minFps: 2 },
      ],
    };
    expect((await api('PUT', '/v1/stores/s1/cameras/cam-2', camera)).status).toBe(201);
    await new Promise((r) => setTimeout(r, 500));
    expect(await requirements('person-detector')).toMatchObject({
      source: 'api',
      memoryBytes: 1_000_000_000,
    });
    expect(await requirements('unpublished-model')).toMatchObject({ source: 'api', preferGpu: false });
  });
});
