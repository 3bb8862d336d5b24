import { type ModelRequirements, modelRequirementsSchema } from '@storevision/contracts';
import { describe, expect, it } from 'vitest';
import { solveExact } from './exact-solver.ts';
import {
  buildCalibration,
  type PlanInput,
  type PlannerNode,
  type PlannerPipeline,
  pipelineKey,
  plan,
  throughputOf,
} from './planner.ts';

const GiB = 2 ** 30;
const node = (nodeId: string, o: Partial<PlannerNode> = {}): PlannerNode => ({
  nodeId,
  nodePool: 's1',
  ready: true,
  arch: 'x64',
  cores: 4,
  memoryBytes: 8 * GiB,
  gpuCount: 0,
  executionProviders: ['cpu'],
  models: ['person', 'product'],
  throughput: { person: 40, product: 20 },
  ...o,
});
const gpuNode = (nodeId: string, o: Partial<PlannerNode> = {}) =>
  node(nodeId, {
    gpuCount: 1,
    gpuName: 'NVIDIA L4',
    executionProviders: ['cuda', 'cpu'],
    throughput: { person: 200, product: 150 },
    ...o,
  });
const pipe = (cameraId: string, model: string, o: Partial<PlannerPipeline> = {}): PlannerPipeline => ({
  cameraId,
  model,
  fps: 5,
  minFps: 2,
  priority: 0,
  nodePool: 's1',
  ...o,
});
const reqs: Record<string, Partial<ModelRequirements>> = { product: { preferGpu: true } };
const input = (o: Partial<PlanInput>): PlanInput => ({
  nodes: [],
  pipelines: [],
  headroom: 0.2,
  requirements: (m) => modelRequirementsSchema.parse(reqs[m] ?? {}),
  ...o,
});
const owners = (r: ReturnType<typeof plan>) => new Map(r.pipelines.map((p) => [pipelineKey(p), p.nodeId]));
const cameras = (n: number, models = ['person']) =>
  Array.from({ length: n }, (_, i) => models.map((m) => pipe(`cam${i}`, m))).flat();

describe('planner', () => {
  it('covers every camera at full fps and keeps every node under 1 − headroom', () => {
    const r = plan(
      input({ nodes: [node('a'), node('b'), node('c')], pipelines: cameras(6, ['person', 'product']) }),
    );
    expect(r.pipelines).toHaveLength(12);
    expect(r.shed).toEqual([]);
    for (const p of r.pipelines) expect(p.fps).toBe(5);
    for (const u of Object.values(r.utilization)) expect(u).toBeLessThanOrEqual(0.8 + 1e-9);
    // 6×(5/40 + 5/20) = 2.25 of 3 × 0.8 capacity: must use all three nodes
    expect(new Set(r.pipelines.map((p) => p.nodeId)).size).toBe(3);
  });

  it('spreads equal work evenly over equal nodes', () => {
    const r = plan(input({ nodes: [node('a'), node('b'), node('c')], pipelines: cameras(6) }));
    const per = new Map<string, number>();
    for (const p of r.pipelines) per.set(p.nodeId, (per.get(p.nodeId) ?? 0) + 1);
    expect([...per.values()]).toEqual([2, 2, 2]);
  });

  it('puts GPU-preferring models on the GPU node while it has room', () => {
    const r = plan(
      input({ nodes: [node('a'), node('b'), gpuNode('g')], pipelines: cameras(6, ['person', 'product']) }),
    );
    const product = r.pipelines.filter((p) => p.model === 'product');
    expect(product.every((p) => p.nodeId === 'g')).toBe(true);
    expect(r.pipelines.filter((p) => p.model === 'person' && p.nodeId === 'g')).toHaveLength(0);
  });

  it('honours EP, arch and memory requirements and reports a model no node can run', () => {
    reqs.trt = { executionProviders: ['tensorrt'] };
    reqs.armonly = { arch: ['arm64'] };
    reqs.huge = { memoryBytes: 7 * GiB };
    const models = ['person', 'trt', 'armonly', 'huge'];
    const nodes = [node('x', { models }), node('arm', { arch: 'aarch64', models, memoryBytes: 2 * GiB })];
    const r = plan(
      input({
        nodes,
        pipelines: [pipe('c1', 'trt'), pipe('c1', 'armonly'), pipe('c1', 'huge'), pipe('c1', 'missing')],
      }),
    );
    expect(r.pipelines.map((p) => [p.model, p.nodeId])).toEqual([['armonly', 'arm']]);
    const shed = Object.fromEntries(r.shed.map((s) => [s.model, s]));
    expect(shed.trt!.reason).toBe('no_eligible_node');
    expect(shed.trt!.detail).toContain('execution providers tensorrt');
    expect(shed.huge!.detail).toMatch(/x has 6554 MiB usable memory, huge needs 7168 MiB/);
    expect(shed.missing!.detail).toContain('has not loaded missing');
  });

  it('reports a pool without ready nodes', () => {
    const r = plan(input({ nodes: [node('a', { ready: false })], pipelines: [pipe('c1', 'person')] }));
    expect(r.shed).toMatchObject([{ reason: 'no_ready_node', detail: expect.stringContaining('a lost') }]);
  });

  it('degrades by policy: fps down to minFps first, then sheds the lowest priority, and says so', () => {
    // One node: 0.8 capacity; person at 40 fps/node → 0.025 per frame.
    const n = [node('a', { throughput: { person: 40 } })];
    // 8 cameras × 5 fps × 0.025 = 1.0 > 0.8 → fps lowered, nobody dropped (8 × 2 × 0.025 = 0.4).
    const lowered = plan(input({ nodes: n, pipelines: cameras(8) }));
    expect(lowered.pipelines).toHaveLength(8);
    expect(lowered.shed.every((s) => s.reason === 'fps_lowered')).toBe(true);
    expect(lowered.pipelines.reduce((a, p) => a + p.load, 0)).toBeCloseTo(0.8, 6);
    // 20 cameras at minFps 2 = 1.0 > 0.8: 16 fit at minFps, the 4 of priority 0 are dropped.
    const pipelines = cameras(20).map((p, i) => ({ ...p, priority: i < 16 ? 1 : 0 }));
    const r = plan(input({ nodes: n, pipelines }));
    expect(r.pipelines).toHaveLength(16);
    expect(r.pipelines.every((p) => p.fps === 2)).toBe(true);
    const dropped = r.shed.filter((s) => s.reason === 'capacity');
    expect(dropped.map((s) => s.cameraId).sort()).toEqual(['cam16', 'cam17', 'cam18', 'cam19']);
    expect(dropped[0]!.detail).toMatch(/not enough capacity at minFps 2 \(priority 0\): a 0% free, needs 5%/);
  });

  it('is stable: the same input moves nothing, a new camera moves nothing else', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const first = plan(input({ nodes, pipelines: cameras(6, ['person', 'product']) }));
    const again = plan(
      input({ nodes, pipelines: cameras(6, ['person', 'product']), current: owners(first) }),
    );
    expect(again.moved).toBe(0);
    expect(owners(again)).toEqual(owners(first));
    const more = plan(input({ nodes, pipelines: cameras(7, ['person', 'product']), current: owners(first) }));
    expect(more.moved).toBe(0);
    for (const [k, v] of owners(first)) expect(owners(more).get(k)).toBe(v);
  });

  it('moves only the lost node’s pipelines, and takes nothing back on return unless that improves the plan', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const pipelines = cameras(6);
    const first = plan(input({ nodes, pipelines }));
    const lostB = nodes.map((n) => (n.nodeId === 'b' ? { ...n, ready: false } : n));
    const failover = plan(input({ nodes: lostB, pipelines, current: owners(first) }));
    expect(failover.pipelines).toHaveLength(6);
    expect(failover.pipelines.some((p) => p.nodeId === 'b')).toBe(false);
    const wasOnB = first.pipelines.filter((p) => p.nodeId === 'b').length;
    expect(failover.moved).toBe(wasOnB);
    // b returns: a and c have room for everything at full fps → nothing moves back.
    const back = plan(input({ nodes, pipelines, current: owners(failover) }));
    expect(back.moved).toBe(0);
    // A tight store: with b lost, fps drops; when b returns, moving work back is an improvement.
    const slow = nodes.map((n) => ({ ...n, throughput: { person: 16 } }));
    const tight = plan(
      input({ nodes: slow.map((n) => (n.nodeId === 'b' ? { ...n, ready: false } : n)), pipelines }),
    );
    expect(tight.shed.some((s) => s.reason === 'fps_lowered')).toBe(true);
    const returned = plan(input({ nodes: slow, pipelines, current: owners(tight) }));
    expect(returned.moved).toBeGreaterThan(0);
    expect(returned.pipelines.some((p) => p.nodeId === 'b')).toBe(true);
    expect(returned.objective).toBeGreaterThan(tight.objective);
  });

  it('keeps pipelines inside their node pool', () => {
    const r = plan(
      input({
        nodes: [node('a'), node('z', { nodePool: 's2' })],
        pipelines: [pipe('c1', 'person', { nodePool: 's2' })],
      }),
    );
    expect(r.pipelines.map((p) => p.nodeId)).toEqual(['z']);
  });

  it('estimates unmeasured nodes from measured nodes of the same class, then from the model', () => {
    const measured = node('a', { throughput: { person: 40 } });
    const twin = node('b', { cores: 8, throughput: {} });
    const arm = node('c', { arch: 'arm64', cores: 2, throughput: {} });
    const calibration = buildCalibration([measured, twin, arm]);
    const req = modelRequirementsSchema.parse({ cpuFpsPerCore: 3 });
    expect(throughputOf(measured, 'person', req, calibration)).toEqual({ fps: 40, source: 'measured' });
    // same class (x64/cpu): 40 fps / 4 cores × 8 cores
    expect(throughputOf(twin, 'person', req, calibration)).toEqual({ fps: 80, source: 'class' });
    expect(throughputOf(arm, 'person', req, calibration)).toEqual({ fps: 6, source: 'estimate' });
    const r = plan(input({ nodes: [arm], pipelines: [pipe('c1', 'person')], calibration }));
    expect(r.pipelines[0]).toMatchObject({ costSource: 'estimate', load: 5 / 8 });
  });

  it('comes within 5% of the exact optimum on a tight instance', async () => {
    const nodes = [
      node('a', { throughput: { person: 30, product: 10 } }),
      node('b', { cores: 2, throughput: { person: 15, product: 6 } }),
      gpuNode('g', { throughput: { person: 60, product: 40 } }),
    ];
    const pipelines = cameras(6, ['person', 'product']).map((p, i) => ({
      ...p,
      fps: 10,
      minFps: 3,
      priority: i % 3 === 0 ? 1 : 0,
    }));
    const heuristic = plan(input({ nodes, pipelines }));
    const exact = await solveExact(input({ nodes, pipelines }));
    expect(exact.status).toBe('Optimal');
    expect(heuristic.objective).toBeLessThanOrEqual(exact.objective + 1e-6);
    expect((exact.objective - heuristic.objective) / exact.objective).toBeLessThan(0.05);
  });
});
