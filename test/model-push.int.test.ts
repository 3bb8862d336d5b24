import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Rollout } from '@storevision/contracts';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferencePool } from '../services/inference-edge/src/inference/pool.ts';
import { ModelAgent } from '../services/inference-edge/src/models/model-agent.ts';
import { ModelCache } from '../services/inference-edge/src/models/model-cache.ts';
import { ModelHealthTracker } from '../services/inference-edge/src/models/model-health.ts';
import { BUNDLED_MODELS_DIR, waitFor } from '../services/inference-edge/src/testing/edge-fixture.ts';
import {
  PERSON_DETECTOR_ONNX,
  personDetectorManifest,
} from '../services/inference-edge/src/testing/model-packages.ts';
import {
  startTestHub,
  TEST_ADMIN_TOKEN,
  type TestHub,
} from '../services/model-hub/src/testing/hub-fixture.ts';

/**
 * How an edge's model agent learns of a new desired state (issue 5: "told of changes at once by a
 * push channel, with polling as fallback"): a real hub on a port, the agent with a real inference
 * pool (one thread, real onnxruntime), the hub's SSE stream first; and, behind a real HTTP proxy
 * that answers the stream route as a hub without it would (404), or that holds back the stream's
 * bytes as a buffering proxy does, the same agent falling back to the long-poll and still getting
 * the new version at once. Every request the agent makes is recorded (the real `fetch`, wrapped).
 */
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const BUNDLED_VERSION = (
  JSON.parse(await readFile(path.join(BUNDLED_MODELS_DIR, 'person-detector/manifest.json'), 'utf8')) as {
    version: string;
  }
).version;
const logger = pino({ level: process.env.EDGE_TEST_LOG ?? 'silent' });

let hub: TestHub;
let hubUrl: string;
let pool: InferencePool;
const cleanups: Array<() => Promise<unknown>> = [];

const publish = async (version: string) =>
  hub.publish({ ...(await personDetectorManifest()), version }, await readFile(PERSON_DETECTOR_ONNX));

interface Recorded {
  at: number;
  method: string;
  path: string;
  status?: number;
}

/** A model agent for one node of one store, over the shared pool, recording its requests. */
async function startAgent(
  nodeId: string,
  storeId: string,
  url: string,
  extra: { pushIdleTimeoutMs?: number } = {},
) {
  const token = (
    await hub.hub.app.inject({
      method: 'POST',
      url: '/v1/tokens',
      headers: admin,
      payload: { role: 'node', label: nodeId },
    })
  ).json().token as string;
  const dir = await mkdtemp(path.join(tmpdir(), `sv-push-${nodeId}-`));
  const requests: Recorded[] = [];
  const recording: typeof fetch = async (input, init) => {
    const u = new URL(String(input));
    const r: Recorded = { at: performance.now(), method: init?.method ?? 'GET', path: u.pathname + u.search };
    requests.push(r);
    const res = await fetch(input, init);
    r.status = res.status;
    return res;
  };
  const agent = new ModelAgent({
    hubUrl: url,
    nodeId,
    storeId,
    token,
    tokenFile: path.join(dir, 'hub-node-token'),
    publicKeyPem: hub.hub.signingKey.publicKeyPem,
    cache: await ModelCache.open(path.join(dir, 'cache'), { maxBytes: 1e9, logger }),
    pool,
    models: ['person-detector'],
    health: new ModelHealthTracker(),
    logger,
    waitSeconds: 30,
    healthIntervalMs: 250,
    fetch: recording,
    ...extra,
  });
  agent.start();
  cleanups.push(async () => {
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  });
  // Registered with the hub (its first health report names its store): a rollout can target it.
  await waitFor(async () => {
    const nodes = (await hub.hub.app.inject({ url: '/v1/nodes', headers: admin })).json().nodes as Array<{
      nodeId: string;
    }>;
    return nodes.some((n) => n.nodeId === nodeId) ? true : undefined;
  });
  return { agent, requests };
}

/** Rolls `version` out to one store; resolves when the rollout was created (performance.now()) and when it completed. */
async function rollOut(version: string, store: string) {
  const created = performance.now();
  const res = await hub.hub.app.inject({
    method: 'POST',
    url: '/v1/rollouts',
    headers: admin,
    payload: {
      model: 'person-detector',
      version,
      target: { stores: [store] },
      waves: [{ percent: 100, holdSeconds: 0 }],
    },
  });
  expect(res.statusCode, res.body).toBe(201);
  const id = (res.json() as Rollout).id;
  const done = await waitFor(
    async () => {
      const r = (await hub.hub.app.inject({ url: `/v1/rollouts/${id}`, headers: admin })).json() as Rollout;
      if (r.state === 'running') return undefined;
      return r;
    },
    30_000,
    50,
  );
  expect(done.state).toBe('completed');
  return created;
}

/** When the agent asked for the version's blob: it learnt of the new state just before. */
function downloadStart(requests: Recorded[], after: number): number {
  const r = requests.find((x) => x.at >= after && x.path.startsWith('/v1/blobs/'));
  if (!r) throw new Error(`no blob download after the rollout: ${JSON.stringify(requests)}`);
  return r.at;
}

/** A real HTTP proxy in front of the hub that breaks the push route the way `mode` says. */
async function startProxy(mode: 'hub-without-push' | 'buffering') {
  const target = new URL(hubUrl);
  const server = http.createServer((req, res) => {
    const push = (req.url ?? '').includes('/models/events');
    if (push && mode === 'hub-without-push') {
      // What a hub from before the push channel answers (its not-found handler).
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
      res.end(
        JSON.stringify({ code: 'HUB_ERR_NOT_FOUND', message: `no route GET ${req.url?.split('?')[0]}` }),
      );
      return;
    }
    const up = http.request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        if (push && mode === 'buffering') {
          // Headers go out, the body is held until the upstream ends: the stream never comes through.
          res.flushHeaders();
          const held: Buffer[] = [];
          ur.on('data', (c: Buffer) => held.push(c));
          ur.on('end', () => res.end(Buffer.concat(held)));
        } else ur.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

beforeAll(async () => {
  hub = await startTestHub(async (dir) => `sqlite:${path.join(dir, 'hub.sqlite')}`, { rolloutTickMs: 100 });
  await hub.hub.app.listen({ port: 0, host: '127.0.0.1' });
  hubUrl = `http://127.0.0.1:${(hub.hub.app.server.address() as { port: number }).port}`;
  for (const v of [BUNDLED_VERSION, '5.0.0', '5.0.1', '5.0.2']) await publish(v);
  pool = new InferencePool({
    models: { 'person-detector': path.join(BUNDLED_MODELS_DIR, 'person-detector') },
    threads: 1,
    intraOpThreads: 1,
    sharpConcurrency: 1,
    maxPixels: 40_000_000,
    timeoutMs: 15_000,
    maxQueued: 100,
    logger,
    logLevel: process.env.EDGE_TEST_LOG ?? 'silent',
  });
  await pool.start();
}, 120_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await pool?.close();
  await hub?.dispose();
});

describe('model agent: push channel first, long-poll as fallback', () => {
  it('receives a new desired state over SSE at once, and never long-polls', async () => {
    const { agent, requests } = await startAgent('edge-push', 'store-push', hubUrl);
    await waitFor(async () => (agent.channel === 'push' ? true : undefined));
    const created = await rollOut('5.0.0', 'store-push');
    const learnt = downloadStart(requests, created) - created;
    expect(pool.models[0]!.version).toBe('5.0.0');
    // The rollout engine's first tick (100 ms here) plus the push: well under a second.
    expect(learnt).toBeLessThan(1000);
    expect(agent.channel).toBe('push');
    const sync = requests.filter((r) => r.path.startsWith('/v1/nodes/edge-push/models'));
    expect(sync.map((r) => [r.path, r.status])).toEqual([['/v1/nodes/edge-push/models/events', 200]]);
  });

  it('falls back to the long-poll when the hub has no push channel (404), and still gets the change at once', async () => {
    const proxy = await startProxy('hub-without-push');
    const { agent, requests } = await startAgent('edge-old-hub', 'store-old-hub', proxy);
    await waitFor(async () => (agent.channel === 'poll' ? true : undefined));
    const created = await rollOut('5.0.1', 'store-old-hub');
    expect(downloadStart(requests, created) - created).toBeLessThan(1000);
    expect(pool.models[0]!.version).toBe('5.0.1');
    const sync = requests.filter((r) => r.path.startsWith('/v1/nodes/edge-old-hub/models'));
    // One try of the stream (404), then long-polls (?wait=30) only: no retry of the stream for 5 minutes.
    expect(sync[0]).toMatchObject({ path: '/v1/nodes/edge-old-hub/models/events', status: 404 });
    expect(sync.slice(1).length).toBeGreaterThanOrEqual(2);
    expect(sync.slice(1).every((r) => r.path === '/v1/nodes/edge-old-hub/models?wait=30')).toBe(true);
  });

  it('falls back to the long-poll when a proxy holds the stream back (no heartbeat arrives)', async () => {
    const proxy = await startProxy('buffering');
    const t0 = performance.now();
    const { agent, requests } = await startAgent('edge-buffered', 'store-buffered', proxy, {
      pushIdleTimeoutMs: 1000,
    });
    await waitFor(async () => (agent.channel === 'poll' ? true : undefined));
    // Gave the stream up after its idle timeout, not before.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(900);
    const created = await rollOut('5.0.2', 'store-buffered');
    expect(downloadStart(requests, created) - created).toBeLessThan(1000);
    expect(pool.models[0]!.version).toBe('5.0.2');
    const sync = requests.filter((r) => r.path.startsWith('/v1/nodes/edge-buffered/models'));
    expect(sync[0]).toMatchObject({ path: '/v1/nodes/edge-buffered/models/events', status: 200 });
    expect(sync.slice(1).every((r) => r.path === '/v1/nodes/edge-buffered/models?wait=30')).toBe(true);
  });
});
