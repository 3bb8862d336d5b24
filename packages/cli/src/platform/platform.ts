/**
 * `storevision up`: the whole platform on one machine with its embedded defaults.
 *
 * - one `redis-server` (AOF on, `<data>/redis`) shared by the edges, each under its own key prefix
 *   (a store box would run one Redis per node; one process is lighter on a laptop and the prefixes
 *   keep the nodes' queues, frames and outboxes apart);
 * - the model hub (SQLite, `<data>/hub`) and the orchestrator (standalone, `<data>/orchestrator`)
 *   in this process;
 * - two `storevision edge` processes per store (`<data>/edges/<node>`), registered with the
 *   orchestrator, uploading events to the hub with a node token, pinning the hub's signing key;
 * - the bundled detector published through the hub (the data scientist's path), and each store's
 *   cameras (entrance, aisle, checkout, …) registered with the orchestrator with the scene's zones
 *   and lines, then streamed from pre-rendered loops in real time.
 *
 * A second `up` on the same data folder reuses everything (hub database, signing key, orchestrator
 * state, Redis AOF, rendered loops).
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SceneName } from '@storevision/contracts';
import { LocalRedis } from '@storevision/inference-edge';
import { loadConfig as loadHubConfig, type RunningHub, startHub } from '@storevision/model-hub';
import {
  loadConfig as loadOrchestratorConfig,
  type RunningOrchestrator,
  startOrchestrator,
} from '@storevision/orchestrator';
import { EdgeProcess } from '../bench/edge-process.ts';
import { HubClient } from '../hub-client.ts';
import { CameraFeed, prepareCameraLoop } from './camera-feed.ts';
import { simulatedCameraSpec } from './camera-spec.ts';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
export const BUNDLED_MODEL = path.join(REPO, 'models', 'person-detector');

export interface PlatformOptions {
  dataDir: string;
  stores: number;
  /** Cameras per store (scenes in turn: entrance, aisle, checkout). */
  cameras: number;
  fps: number;
  width: number;
  height: number;
  /** Length of each camera's rendered loop. */
  loopSeconds: number;
  hubPort: number;
  orchestratorPort: number;
  /** Store time zone (line counts restart at its midnight). */
  timezone: string;
  /** A node silent this long is lost and its cameras move. */
  heartbeatTimeoutMs: number;
  onStep?: (step: string) => void;
  onRender?: (camera: string, done: number, total: number) => void;
}

export interface RunningPlatform {
  hub: RunningHub;
  orchestrator: RunningOrchestrator;
  redis: LocalRedis;
  edges: Array<{ nodeId: string; storeId: string; process: EdgeProcess }>;
  cameras: Array<{ storeId: string; cameraId: string; scene: SceneName; feed: CameraFeed }>;
  adminToken: string;
  model: { name: string; version: string };
  stop(): Promise<void>;
}

const SCENES: SceneName[] = ['entrance', 'aisle', 'checkout'];

export async function startPlatform(o: PlatformOptions): Promise<RunningPlatform> {
  const step = o.onStep ?? (() => {});
  const stoppers: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const s of stoppers.reverse()) await s().catch(() => {});
    stoppers.length = 0;
  };
  try {
    step(`Redis (AOF) in ${path.join(o.dataDir, 'redis')}`);
    const redis = await LocalRedis.start({ dir: path.join(o.dataDir, 'redis'), persistence: true });
    stoppers.push(() => redis.stop());

    step(`model hub (SQLite) in ${path.join(o.dataDir, 'hub')}`);
    const hub = await startHub(
      loadHubConfig(
        {},
        { port: o.hubPort, host: '127.0.0.1', dataDir: path.join(o.dataDir, 'hub'), logLevel: 'warn' },
      ),
    );
    stoppers.push(() => hub.close());
    const adminToken = hub.hub.adminToken.token;
    const client = new HubClient(hub.url, adminToken);

    step('publishing the bundled person-detector through the hub');
    const manifestJson = await readFile(path.join(BUNDLED_MODEL, 'manifest.json'), 'utf8');
    const manifest = JSON.parse(manifestJson) as {
      name: string;
      version: string;
      variants: Array<{ file: string }>;
    };
    const published = await client.publish({
      name: manifest.name,
      file: path.join(BUNDLED_MODEL, manifest.variants[0]!.file),
      manifestJson,
    });
    if (published.status >= 300)
      throw new Error(`publishing the bundled model: ${JSON.stringify(published.body)}`);
    await client.setAlias(manifest.name, 'stable', manifest.version).catch(() => {});
    const signingKey = (await (await fetch(`${hub.url}/v1/signing-key`)).json()) as { publicKeyPem: string };

    step(`orchestrator (standalone) in ${path.join(o.dataDir, 'orchestrator')}`);
    // It reads model requirements (EPs, GPU preference, memory) from the hub's manifests.
    const orchestratorToken = (await hubJson(hub.url, adminToken, 'POST', '/v1/tokens', {
      role: 'viewer',
      label: 'orchestrator',
    })) as { token: string };
    const orchestrator = await startOrchestrator(
      loadOrchestratorConfig(
        {},
        {
          port: o.orchestratorPort,
          host: '127.0.0.1',
          dataDir: path.join(o.dataDir, 'orchestrator'),
          heartbeatTimeoutMs: o.heartbeatTimeoutMs,
          logLevel: 'warn',
          hubUrl: hub.url,
          hubToken: orchestratorToken.token,
        },
      ),
    );
    stoppers.push(() => orchestrator.close());

    const storeIds = Array.from({ length: o.stores }, (_, i) => `store-${i + 1}`);
    for (const storeId of storeIds) {
      await hubJson(hub.url, adminToken, 'PUT', `/v1/stores/${storeId}`, {
        name: `Demo store ${storeId.slice(6)}`,
        timezone: o.timezone,
      });
    }

    const edges: RunningPlatform['edges'] = [];
    // Every edge of the demo shares this machine: each budgets its threads for its share of the
    // cores, not for all of them (2 cores, 2 edges: 1 core and 2 inference threads each).
    const coresPerEdge = Math.max(1, Math.floor(os.availableParallelism() / (2 * storeIds.length)));
    for (const storeId of storeIds) {
      for (const suffix of ['a', 'b']) {
        const nodeId = `${storeId}-${suffix}`;
        step(`edge ${nodeId} (loading and warming up the model)`);
        const token = (await hubJson(hub.url, adminToken, 'POST', '/v1/tokens', {
          role: 'node',
          label: nodeId,
        })) as {
          token: string;
        };
        const proc = await EdgeProcess.start({
          redisUrl: redis.url,
          modelsDir: path.join(REPO, 'models'),
          models: ['person-detector'],
          redisPrefix: nodeId,
          nodeId,
          extraArgs: [
            '--cores',
            String(coresPerEdge),
            '--data-dir',
            path.join(o.dataDir, 'edges', nodeId),
            '--store-id',
            storeId,
            '--timezone',
            o.timezone,
            '--orchestrator-url',
            orchestrator.url,
            '--heartbeat-interval',
            String(Math.max(500, Math.floor(o.heartbeatTimeoutMs / 4))),
            '--hub-url',
            hub.url,
            '--hub-token',
            token.token,
            '--hub-public-key',
            signingKey.publicKeyPem,
          ],
        });
        stoppers.push(() => proc.stop());
        edges.push({ nodeId, storeId, process: proc });
      }
    }

    step('waiting for the edges to register with the orchestrator');
    await until(30_000, async () => {
      const res = (await (await fetch(`${orchestrator.url}/v1/nodes`)).json()) as {
        nodes: Array<{ status: string }>;
      };
      return res.nodes.filter((n) => n.status === 'ready').length >= edges.length ? true : undefined;
    });

    step(`rendering camera loops (${o.loopSeconds} s at ${o.fps} fps, ${o.width}×${o.height}; cached)`);
    const cameras: RunningPlatform['cameras'] = [];
    const loopsDir = path.join(o.dataDir, 'cameras');
    for (const [s, storeId] of storeIds.entries()) {
      for (let k = 0; k < o.cameras; k++) {
        const scene = SCENES[k % SCENES.length]!;
        const cameraId = `${scene}-${Math.floor(k / SCENES.length) + 1}`;
        // Each store and camera its own seed: different people, light and camera pose.
        const seed = 7 + s * 100 + k;
        const loop = await prepareCameraLoop({
          dir: loopsDir,
          scene,
          seed,
          fps: o.fps,
          seconds: o.loopSeconds,
          width: o.width,
          height: o.height,
          onFrame: (done, total) => o.onRender?.(`${storeId}/${cameraId}`, done, total),
        });
        const res = await fetch(`${orchestrator.url}/v1/stores/${storeId}/cameras/${cameraId}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(
            simulatedCameraSpec({ fps: o.fps, width: o.width, height: o.height, scene: loop.description }),
          ),
        });
        if (!res.ok) throw new Error(`registering camera ${cameraId}: ${res.status} ${await res.text()}`);
        const storeEdges = edges.filter((e) => e.storeId === storeId);
        const feed = new CameraFeed(cameraId, loop, () => storeEdges.map((e) => e.process.url));
        cameras.push({ storeId, cameraId, scene, feed });
      }
    }
    step('streaming the cameras');
    for (const c of cameras) c.feed.start();
    stoppers.push(async () => {
      for (const c of cameras) c.feed.stop();
    });

    return {
      hub,
      orchestrator,
      redis,
      edges,
      cameras,
      adminToken,
      model: { name: manifest.name, version: manifest.version },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function hubJson(
  base: string,
  token: string,
  method: string,
  p: string,
  body: unknown,
): Promise<unknown> {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p} on the hub: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function until<T>(timeoutMs: number, f: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`not ready within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
