import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Rollout } from '@storevision/contracts';
import { loadConfig, type RunningOrchestrator, startOrchestrator } from '@storevision/orchestrator';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeNode } from '../services/inference-edge/src/node.ts';
import { startTestEdge, waitFor } from '../services/inference-edge/src/testing/edge-fixture.ts';
import {
  PERSON_DETECTOR_ONNX,
  personDetectorManifest,
} from '../services/inference-edge/src/testing/model-packages.ts';
import { startTestRedis, type TestRedis } from '../services/inference-edge/src/testing/redis-server.ts';
import {
  startTestHub,
  TEST_ADMIN_TOKEN,
  type TestHub,
} from '../services/model-hub/src/testing/hub-fixture.ts';

/**
 * Issue 7, inventory: a node measures its throughput per model "at start and after each model
 * change". A real hub, a real orchestrator and one real edge (model agent + orchestrator agent):
 * the edge registers with a measured figure; a rollout swaps its model; the edge measures the new
 * version and the orchestrator's inventory carries the new figure (a later `measuredAt`).
 */
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
let redis: TestRedis;
let hub: TestHub;
let orch: RunningOrchestrator;
let edge: EdgeNode;
let dataDir: string;

interface ThroughputView {
  nodeId: string;
  capabilities: { throughput: Record<string, { fps: number; measuredAt?: number }> };
}
const measured = async () => {
  const nodes = ((await (await fetch(`${orch.url}/v1/nodes`)).json()) as { nodes: ThroughputView[] }).nodes;
  return nodes.find((n) => n.nodeId === 'tp-edge')?.capabilities.throughput['person-detector'];
};

const publish = async (version: string) =>
  hub.publish({ ...(await personDetectorManifest()), version }, await readFile(PERSON_DETECTOR_ONNX));

beforeAll(async () => {
  redis = await startTestRedis();
  dataDir = await mkdtemp(path.join(tmpdir(), 'sv-tp-'));
  hub = await startTestHub(async (dir) => `sqlite:${path.join(dir, 'hub.sqlite')}`, { rolloutTickMs: 100 });
  await hub.hub.app.listen({ port: 0, host: '127.0.0.1' });
  const hubUrl = `http://127.0.0.1:${(hub.hub.app.server.address() as { port: number }).port}`;
  orch = await startOrchestrator(loadConfig({}, { port: 0, host: '127.0.0.1', dataDir }), {
    logger: pino({ level: 'silent' }),
  });
  const enrolment = (
    await hub.hub.app.inject({
      method: 'POST',
      url: '/v1/enrolment-tokens',
      headers: admin,
      payload: { maxUses: 1 },
    })
  ).json().token as string;
  edge = await startTestEdge(redis.url, {
    nodeId: 'tp-edge',
    storeId: 'tp-store',
    dataDir,
    hubUrl,
    hubEnrolmentToken: enrolment,
    hubPublicKey: hub.hub.signingKey.publicKeyPem,
    modelSyncWaitSeconds: 10,
    modelHealthIntervalMs: 250,
    orchestratorUrl: orch.url,
    heartbeatIntervalMs: 1000,
    throughputProbeMs: 300,
  });
  const url = await edge.app.listen({ port: 0, host: '127.0.0.1' });
  await edge.startAgent(url);
}, 120_000);

afterAll(async () => {
  await orch?.close();
  await edge?.close();
  await hub?.dispose();
  await redis?.dispose();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('throughput after a model change', () => {
  it('registers with a measured figure and reports a new measurement once a rollout swapped the model', async () => {
    const first = await waitFor(measured, 30_000, 50);
    expect(first.fps).toBeGreaterThan(1);
    expect(first.measuredAt).toBeGreaterThan(0);

    await publish('7.0.0');
    const created = await hub.hub.app.inject({
      method: 'POST',
      url: '/v1/rollouts',
      headers: admin,
      payload: {
        model: 'person-detector',
        version: '7.0.0',
        target: { stores: ['tp-store'] },
        waves: [{ percent: 100, holdSeconds: 0 }],
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    await waitFor(async () => (edge.pool.models[0]!.version === '7.0.0' ? true : undefined), 30_000, 50);

    // Heartbeats repeat the figure they have; only a new measurement moves measuredAt.
    const after = await waitFor(
      async () => {
        const t = await measured();
        return t && (t.measuredAt ?? 0) > (first.measuredAt ?? 0) ? t : undefined;
      },
      30_000,
      50,
    );
    expect(after.fps).toBeGreaterThan(1);
    const rollout = (
      await hub.hub.app.inject({ url: `/v1/rollouts/${(created.json() as Rollout).id}`, headers: admin })
    ).json() as Rollout;
    expect(rollout.state).not.toBe('rolled_back');
  });
});
