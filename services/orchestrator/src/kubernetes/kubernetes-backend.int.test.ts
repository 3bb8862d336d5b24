/**
 * The Kubernetes backend (`--backend kubernetes`) with the real `@kubernetes/client-node`:
 * Nodes flow from the cluster into placement (added, labelled, NotReady, cordoned, deleted),
 * assignments are written as ConfigMaps, a 409 Conflict is re-read and retried, and a broken
 * watch whose resourceVersion expired recovers by re-listing without losing a change.
 *
 * By default the cluster is `FakeKubeApiServer` (src/testing/fake-kube-api-server.ts), a FAKE
 * API server started here — real HTTP and JSON, list/watch with resourceVersions, bookmarks,
 * 410 Expired and 409 Conflict — because no real API server runs on the test machines.
 *
 * Seam for a real cluster: `STOREVISION_K8S_E2E=1 KUBECONFIG=~/.kube/config npx vitest run
 * services/orchestrator/src/kubernetes/kubernetes-backend.int.test.ts` runs the same tests (but
 * the watch-recovery one, which needs control over the API server) against the cluster of the
 * current context, in `$STOREVISION_K8S_NAMESPACE` (default `default`). It needs rights to create,
 * update and delete Nodes and ConfigMaps; the Node objects it creates carry a per-run label (the
 * orchestrator only watches those) and are deleted afterwards. They have no kubelet: the node
 * lifecycle controller marks them Unknown after its grace period (40 s by default), which the
 * tests finish well within.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig, type V1ConfigMap, type V1Node } from '@kubernetes/client-node';
import type { NodeAssignment, NodeView, StorePlacement } from '@storevision/contracts';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { createOrchestrator, type Orchestrator } from '../orchestrator.ts';
import { FakeKubeApiServer } from '../testing/fake-kube-api-server.ts';
import { nodeReport } from '../testing/node-report.ts';
import { DATA_KEY, MANAGED_BY, SET_LABEL } from './assignment-configmap.repository.ts';

const REAL = process.env.STOREVISION_K8S_E2E === '1' && !!process.env.KUBECONFIG;
const MiB = 2 ** 20;
const run = randomBytes(3).toString('hex');
const RUN_LABEL = 'storevision.io/test-run';
const namespace = REAL ? (process.env.STOREVISION_K8S_NAMESPACE ?? 'default') : 'retail';
const prefix = `sv-test-${run}`;
/** Node names: unique per run on a real cluster. */
const N = (x: string) => `sv-${run}-${x}`;
const S1 = `s1-${run}`;
const S2 = `s2-${run}`;

let fake: FakeKubeApiServer | undefined;
let kc: KubeConfig;
let api: CoreV1Api;
let orch: Orchestrator;
let dataDir: string;
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(
  what: string,
  f: () => Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(25);
  }
}

// --- the cluster, driven through the real client (works the same on a real cluster) ------------

async function addNode(
  name: string,
  o: {
    store?: string;
    pool: string;
    arch?: string;
    gpu?: { count: number; product: string; memoryMiB: number };
    inRun?: boolean;
  },
): Promise<V1Node> {
  return api.createNode({
    body: {
      metadata: {
        name,
        labels: {
          ...(o.inRun === false ? {} : { [RUN_LABEL]: run }),
          'apps.openyurt.io/nodepool': o.pool,
          'kubernetes.io/arch': o.arch ?? 'amd64',
          'kubernetes.io/os': 'linux',
          ...(o.store ? { 'storevision.io/store': o.store } : {}),
          ...(o.gpu
            ? { 'nvidia.com/gpu.product': o.gpu.product, 'nvidia.com/gpu.memory': String(o.gpu.memoryMiB) }
            : {}),
        },
      },
      status: {
        capacity: {
          cpu: '8',
          memory: '16318412Ki',
          ...(o.gpu ? { 'nvidia.com/gpu': String(o.gpu.count) } : {}),
        },
        allocatable: {
          cpu: '7800m',
          memory: '15Gi',
          ...(o.gpu ? { 'nvidia.com/gpu': String(o.gpu.count) } : {}),
        },
        conditions: [readyCondition(true)],
      },
    },
  });
}

function readyCondition(ready: boolean) {
  const now = new Date();
  return {
    type: 'Ready',
    status: ready ? 'True' : 'False',
    reason: ready ? 'KubeletReady' : 'KubeletNotReady',
    message: ready ? 'kubelet is posting ready status' : 'container runtime network not ready',
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  };
}

/** Read, change, replace — again on 409, as a controller would. */
async function updateNode(name: string, change: (n: V1Node) => void, status = false): Promise<void> {
  for (let i = 0; ; i++) {
    const n = await api.readNode({ name });
    change(n);
    try {
      if (status) await api.replaceNodeStatus({ name, body: n });
      else await api.replaceNode({ name, body: n });
      return;
    } catch (err) {
      if ((err as { code?: number }).code !== 409 || i > 5) throw err;
    }
  }
}
const setReady = (name: string, ready: boolean) =>
  updateNode(
    name,
    (n) => {
      n.status!.conditions = [readyCondition(ready)];
    },
    true,
  );
const setLabels = (name: string, labels: Record<string, string>) =>
  updateNode(name, (n) => {
    n.metadata!.labels = { ...n.metadata!.labels, ...labels };
  });

async function readConfigMap(node: string): Promise<V1ConfigMap | undefined> {
  try {
    return await api.readNamespacedConfigMap({ name: `${prefix}-${node}`, namespace });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}
const cmAssignment = (cm: V1ConfigMap | undefined) =>
  cm?.data?.[DATA_KEY] ? (JSON.parse(cm.data[DATA_KEY]) as NodeAssignment) : undefined;

// --- the orchestrator's HTTP API ------------------------------------------------------------------

const put = async (url: string, payload: unknown) =>
  orch.app.inject({ method: 'PUT', url, payload: payload as object });
const get = async (url: string) => (await orch.app.inject({ method: 'GET', url })).json();
const nodes = async () => (await get('/v1/nodes')).nodes as NodeView[];
const nodeView = async (id: string) => (await nodes()).find((n) => n.nodeId === id);
const placementOf = async (store: string) =>
  ((await get(`/v1/placements?store=${store}`)).placements as StorePlacement[])[0];
const assignment = async (id: string) => (await get(`/v1/nodes/${id}/assignment`)) as NodeAssignment;
const camera = (models: string[]) => ({
  source: 'push',
  fps: 4,
  pipelines: models.map((model) => ({ model, minFps: 1 })),
});
/** An edge's heartbeat: what the edge knows of itself (store and pool from its flags, as the chart sets them; no GPU seen). */
const heartbeat = (id: string, o: { store?: string; cuda?: boolean } = {}) => {
  const r = nodeReport(o.store ?? S1, { address: `http://10.0.0.${id.length}:8080`, nodePool: `pool-${S1}` });
  if (o.cuda) r.capabilities.executionProviders = ['cuda', 'cpu'];
  return put(`/v1/nodes/${id}`, r);
};
const writes = async (result: string) =>
  (await orch.metrics.k8sConfigMapWrites.get()).values.find((v) => v.labels.result === result)?.value ?? 0;

beforeAll(async () => {
  if (REAL) {
    kc = new KubeConfig();
    kc.loadFromDefault();
  } else {
    fake = await FakeKubeApiServer.start({ bookmarkIntervalMs: 200 });
    kc = fake.kubeConfig();
  }
  api = kc.makeApiClient(CoreV1Api);
  dataDir = await mkdtemp(path.join(tmpdir(), 'sv-orch-k8s-'));
  await addNode(N('a'), { store: S1, pool: `pool-${S1}` });
  await addNode(N('b'), { store: S1, pool: `pool-${S1}` });
  await addNode(N('g'), {
    pool: `pool-${S1}`, // no store label: the edge's --store-id is used
    gpu: { count: 1, product: 'NVIDIA-L4', memoryMiB: 23034 },
  });
  // A Node outside the orchestrator's selector (not a store node of this run).
  await addNode(N('x'), { store: S1, pool: `pool-${S1}`, inRun: false });
  orch = await startK8sOrchestrator();
}, 60_000);

const startK8sOrchestrator = () =>
  createOrchestrator(
    loadConfig(
      {},
      {
        dataDir,
        backend: 'kubernetes',
        k8sNamespace: namespace,
        k8sNodeSelector: `${RUN_LABEL}=${run}`,
        k8sConfigMapPrefix: prefix,
        heartbeatTimeoutMs: 60_000,
        sweepIntervalMs: 50,
      },
    ),
    { logger, kubeConfig: kc, k8sRestartDelayMs: 100 },
  );

afterAll(async () => {
  await orch?.close();
  if (REAL && api) {
    for (const x of ['a', 'b', 'g', 'd', 'x', 'y'])
      await api.deleteNode({ name: N(x) }).catch(() => undefined);
    const cms = await api.listNamespacedConfigMap({ namespace, labelSelector: `${SET_LABEL}=${prefix}` });
    for (const cm of cms.items)
      await api.deleteNamespacedConfigMap({ name: cm.metadata!.name!, namespace }).catch(() => undefined);
  }
  await fake?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe(`Kubernetes backend against ${
  REAL
    ? 'the real cluster of $KUBECONFIG'
    : 'the fake API server (a real cluster is not used: set STOREVISION_K8S_E2E=1 and KUBECONFIG for that)'
}`, () => {
  it('merges Node labels, architecture, GPUs and readiness into the edges’ reports and places on them', async () => {
    expect((await heartbeat(N('a'))).statusCode).toBe(201);
    expect((await heartbeat(N('b'), { store: 'typo-store' })).statusCode).toBe(201);
    expect((await heartbeat(N('g'), { cuda: true })).statusCode).toBe(201);
    // An edge on a Node the orchestrator does not watch, and one on no Node at all.
    expect((await heartbeat(N('x'))).statusCode).toBe(201);
    expect((await heartbeat(N('ghost'))).statusCode).toBe(201);

    const g = (await nodeView(N('g')))!;
    expect(g.status).toBe('ready');
    expect(g.labels).toEqual({ store: S1, nodePool: `pool-${S1}` });
    expect(g.capabilities.arch).toBe('amd64');
    expect(g.capabilities.gpus).toEqual([{ name: 'NVIDIA-L4', memoryBytes: 23034 * MiB }]);
    expect(g.capabilities.cores).toBe(4); // the edge's 4, under the Node's allocatable 7.8
    // The Node's store label wins over the edge's flag.
    expect((await nodeView(N('b')))!.labels.store).toBe(S1);
    for (const id of [N('x'), N('ghost')]) {
      const v = (await nodeView(id))!;
      expect(v.status).toBe('lost');
      expect(v.statusReason).toBe(`no Kubernetes Node named ${id} matching "${RUN_LABEL}=${run}"`);
    }

    await put('/v1/models/product-detector/requirements', { preferGpu: true });
    for (let i = 0; i < 4; i++)
      expect(
        (await put(`/v1/stores/${S1}/cameras/cam${i}`, camera(['person-detector', 'product-detector'])))
          .statusCode,
      ).toBe(201);
    const p = (await placementOf(S1))!;
    expect(p.shed).toEqual([]);
    expect(p.pipelines).toHaveLength(8);
    expect(new Set(p.pipelines.map((x) => x.nodeId))).not.toContain(N('x'));
    // The GPU comes from the Node (capacity + GPU feature discovery labels), the CUDA EP from the edge.
    expect(p.pipelines.filter((x) => x.model === 'product-detector').map((x) => x.nodeId)).toEqual(
      Array(4).fill(N('g')),
    );
    expect((await assignment(N('a'))).store.nodes.map((n) => n.nodeId)).toEqual([
      N('a'),
      N('b'),
      N('g'),
      N('ghost'),
      N('x'),
    ]);
  });

  it('follows Nodes being added, relabelled to another store, made NotReady, cordoned and deleted', async () => {
    // added: a new Node and its edge join the store
    await addNode(N('d'), { store: S1, pool: `pool-${S1}` });
    await until('the new Node in the informer cache', async () => orch.kubernetes!.informer.get(N('d')));
    await heartbeat(N('d'));
    expect((await nodeView(N('d')))!.status).toBe('ready');

    // relabelled: b moves to another store (and pool); its pipelines move to s1's other nodes
    const onB = (await placementOf(S1))!.pipelines.filter((x) => x.nodeId === N('b'));
    await setLabels(N('b'), { 'storevision.io/store': S2, 'apps.openyurt.io/nodepool': `pool-${S2}` });
    await until('b in store s2', async () => (await nodeView(N('b')))?.labels.store === S2);
    const p1 = (await placementOf(S1))!;
    expect(p1.pipelines.some((x) => x.nodeId === N('b'))).toBe(false);
    expect(p1.pipelines).toHaveLength(8);
    expect(p1.shed).toEqual([]);
    if (onB.length) expect(p1.moved).toBeGreaterThan(0);
    expect((await assignment(N('b'))).storeId).toBe(S2);

    // NotReady: a's pipelines fail over at once, although its edge still heartbeats
    const onA = (await placementOf(S1))!.pipelines.filter((x) => x.nodeId === N('a')).length;
    expect(onA).toBeGreaterThan(0);
    await setReady(N('a'), false);
    const lostA = await until('a lost', async () => {
      const v = await nodeView(N('a'));
      return v?.status === 'lost' ? v : undefined;
    });
    expect(lostA.statusReason).toContain('NotReady (KubeletNotReady: container runtime network not ready)');
    await heartbeat(N('a'));
    expect((await nodeView(N('a')))!.status).toBe('lost');
    let p = (await placementOf(S1))!;
    expect(p.pipelines.some((x) => x.nodeId === N('a'))).toBe(false);
    expect(p.pipelines).toHaveLength(8);
    expect((await assignment(N('a'))).cameras).toEqual([]);

    // Ready again: a may run work again
    await setReady(N('a'), true);
    await until('a ready', async () => (await nodeView(N('a')))?.status === 'ready');

    // cordoned: planned maintenance moves its work off too
    const dHad = (await placementOf(S1))!.pipelines.some((x) => x.nodeId === N('d'));
    await updateNode(N('d'), (n) => {
      n.spec = { ...n.spec, unschedulable: true };
    });
    await until('d lost (cordoned)', async () =>
      (await nodeView(N('d')))?.statusReason?.includes('cordoned'),
    );
    p = (await placementOf(S1))!;
    expect(p.pipelines.some((x) => x.nodeId === N('d'))).toBe(false);
    if (dHad) expect(p.moved).toBeGreaterThan(0);

    // deleted: lost, and its ConfigMap goes with it
    await until('d has a ConfigMap', async () => readConfigMap(N('d')));
    await api.deleteNode({ name: N('d') });
    await until('d lost (deleted)', async () =>
      (await nodeView(N('d')))?.statusReason?.startsWith('no Kubernetes Node named'),
    );
    await until('d ConfigMap deleted', async () => (await readConfigMap(N('d'))) === undefined);
  });

  it('writes each node’s assignment as a ConfigMap owned by its Node, labelled as the orchestrator’s', async () => {
    for (const id of [N('a'), N('b'), N('g')]) {
      const want = await assignment(id);
      const cm = await until(`ConfigMap of ${id} at version ${want.version}`, async () => {
        const c = await readConfigMap(id);
        return cmAssignment(c)?.version === want.version ? c : undefined;
      });
      expect(cmAssignment(cm)).toEqual(want);
      expect(cm.metadata!.labels).toMatchObject({
        'app.kubernetes.io/managed-by': MANAGED_BY,
        'app.kubernetes.io/component': 'node-assignment',
        [SET_LABEL]: prefix,
        'storevision.io/node': id,
        'storevision.io/store': want.storeId,
      });
      expect(cm.metadata!.annotations!['storevision.io/assignment-version']).toBe(String(want.version));
      const node = await api.readNode({ name: id });
      expect(cm.metadata!.ownerReferences).toEqual([
        expect.objectContaining({ apiVersion: 'v1', kind: 'Node', name: id, uid: node.metadata!.uid }),
      ]);
    }
    // No ConfigMap for edges without a (watched) Node.
    expect(await readConfigMap(N('ghost'))).toBeUndefined();
    expect(await readConfigMap(N('x'))).toBeUndefined();
  });

  it('retries a 409 Conflict: someone else changed the ConfigMap, the orchestrator re-reads and ends correct', async () => {
    const id = N('g');
    await orch.kubernetes!.configMaps.idle();
    // Someone (an operator's kubectl label) changes the ConfigMap behind the orchestrator's back:
    // the resourceVersion the orchestrator holds is stale now.
    const cm = (await readConfigMap(id))!;
    cm.metadata!.labels = { ...cm.metadata!.labels, 'example.com/audited': 'yes' };
    await api.replaceNamespacedConfigMap({ name: cm.metadata!.name!, namespace, body: cm });
    const conflictsBefore = await writes('conflict');
    const fakeConflictsBefore = fake?.stats.conflicts ?? 0;
    // A new camera changes g's assignment.
    await put(`/v1/stores/${S1}/cameras/cam-new`, camera(['product-detector']));
    const want = await assignment(id);
    expect(want.cameras.some((c) => c.cameraId === 'cam-new')).toBe(true);
    const after = await until('the ConfigMap at the new version', async () => {
      const c = await readConfigMap(id);
      return cmAssignment(c)?.version === want.version ? c : undefined;
    });
    expect(cmAssignment(after)).toEqual(want);
    expect(after.metadata!.labels!['example.com/audited']).toBe('yes'); // the other writer's change is kept
    expect(await writes('conflict')).toBeGreaterThan(conflictsBefore);
    if (fake) expect(fake.stats.conflicts).toBeGreaterThan(fakeConflictsBefore);
  });

  it.skipIf(REAL)(
    'recovers a broken watch whose resourceVersion expired by re-listing, without losing a change (fake API server only: needs control over the API server)',
    async () => {
      const f = fake!;
      const informer = orch.kubernetes!.informer;
      const listsBefore = informer.lists;
      const restartsBefore = (await orch.metrics.k8sWatchRestarts.get()).values[0]?.value ?? 0;
      const expiredBefore = f.stats.expired;
      expect(f.openWatches).toBe(1);
      // The API server goes away: the watch connection is reset and new watches are refused.
      f.watchesAvailable = false;
      f.closeWatches('reset');
      // Meanwhile g turns NotReady and a new store node y appears…
      await setReady(N('g'), false);
      await addNode(N('y'), { store: S1, pool: `pool-${S1}` });
      // …and the server compacts its history: the informer's resourceVersion is too old now.
      f.compact();
      await sleep(300);
      expect((await nodeView(N('g')))!.status).toBe('ready'); // nobody could have told the orchestrator
      f.watchesAvailable = true;
      await until('g lost after the re-list', async () => (await nodeView(N('g')))?.status === 'lost');
      expect(f.stats.expired).toBeGreaterThan(expiredBefore); // 410 Expired on resuming the watch
      expect(informer.lists).toBeGreaterThan(listsBefore); // … answered by a re-list
      expect((await orch.metrics.k8sWatchRestarts.get()).values[0]!.value).toBeGreaterThan(restartsBefore);
      expect(informer.get(N('y'))).toBeDefined();
      await until('a watch again', async () => f.openWatches === 1);
      // g's product-detector pipelines moved (no other GPU node: to the CPU nodes).
      const p = (await placementOf(S1))!;
      expect(p.pipelines.some((x) => x.nodeId === N('g'))).toBe(false);
      expect((await assignment(N('g'))).cameras).toEqual([]);

      // Bookmarks keep the informer's resourceVersion current while nothing it watches changes,
      // so a watch that ends gracefully resumes without a re-list even after a compaction.
      await orch.kubernetes!.configMaps.idle(); // nothing else changes the cluster meanwhile
      await api.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: `unrelated-${run}` }, data: { x: '1' } },
      });
      await until(
        'a bookmark at the newest resourceVersion',
        async () => informer.resourceVersion() === f.resourceVersion,
      );
      const lists = informer.lists;
      const expired = f.stats.expired;
      f.compact();
      f.closeWatches('graceful');
      await until('a watch again', async () => f.openWatches === 1);
      await setReady(N('g'), true);
      await until('g ready', async () => (await nodeView(N('g')))?.status === 'ready');
      expect(informer.lists).toBe(lists);
      expect(f.stats.expired).toBe(expired);
    },
  );

  it('resumes the assignment versions from the ConfigMaps after a restart that lost its snapshot', async () => {
    await orch.kubernetes!.configMaps.idle();
    const kept = cmAssignment(await readConfigMap(N('a')))!;
    expect(kept.version).toBeGreaterThan(1);
    await orch.close();
    await rm(dataDir, { recursive: true, force: true });
    dataDir = await mkdtemp(path.join(tmpdir(), 'sv-orch-k8s-'));
    orch = await startK8sOrchestrator();
    await heartbeat(N('a'));
    // Versions go on from the ConfigMap: an edge holding version N never sees a "new" version N.
    const a = await assignment(N('a'));
    expect(a.version).toBe(kept.version + 1); // the new plan differs (its planVersion restarted)
    await until('the ConfigMap at the resumed version', async () =>
      cmAssignment(await readConfigMap(N('a')))?.version === a.version ? true : undefined,
    );
  });
});
