import type { ModelRequirements, PlacedPipeline, ShedPipeline, StorePlacement } from '@storevision/contracts';

/**
 * The placement planner: a pure function from one store's nodes and camera pipelines (and the
 * current plan) to a new plan. No I/O, no clock; the service calls it on every change.
 *
 * Cost model. A node's capacity is 1 (all its inference threads busy); one frame of model `m` on
 * node `n` costs `1 / throughput(m, n)` of it, where the throughput is the node's own measurement,
 * else the median of measured nodes of the same hardware class (per core for CPU classes), else the
 * model's calibrated estimate (`cpuFpsPerCore × cores`, or `gpuFps` on GPU nodes). A node is filled
 * to at most `1 − headroom`, and the distinct models it holds must fit `memory × (1 − headroom)`.
 * Decode is shared by the models of one camera on one node, which we do not model beyond keeping a
 * camera's pipelines together when all else is equal.
 *
 * Objective (the same one the exact solver of `storevision bench placement` maximises):
 *   Σ over placed pipelines  W(priority) + fps / requestedFps + (0.1 if a GPU-preferring model is on a GPU node)
 * with W(priority) = 10 · 4^priority: covering a pipeline at minFps is always worth more than
 * running another one faster (degrade fps first, then shed), and higher priorities are shed last.
 *
 * Heuristic, in three passes:
 *  A. pipelines by priority (high first), then by cost at minFps (large first, first-fit
 *     decreasing); each is placed at its minFps on the node that keeps its current placement
 *     (stability), else on a GPU node if it prefers one, else beside its camera's other pipelines,
 *     else on the least utilised node (spread). Pipelines that fit nowhere are shed, lowest
 *     priority last in the order, so first to go.
 *  B. each node's spare capacity raises fps, best value per unit of capacity first (the fractional
 *     knapsack, optimal for a fixed assignment).
 *  C. a pipeline still below its fps moves to another node only where it gains ≥ 10% of its fps:
 *     moves must pay for themselves (a returning node takes work back only when that improves).
 */

export interface PlannerNode {
  nodeId: string;
  nodePool: string;
  ready: boolean;
  arch: string;
  cores: number;
  memoryBytes: number;
  gpuCount: number;
  gpuName?: string | undefined;
  executionProviders: readonly string[];
  /** Models loaded on the node. */
  models: readonly string[];
  /** Measured frames/s per model. */
  throughput: Readonly<Record<string, number>>;
}

export interface PlannerPipeline {
  cameraId: string;
  model: string;
  fps: number;
  minFps: number;
  priority: number;
  nodePool: string;
}

export interface PlanInput {
  nodes: readonly PlannerNode[];
  pipelines: readonly PlannerPipeline[];
  requirements: (model: string) => ModelRequirements;
  /** `cameraId/model` → node of the current plan. */
  current?: ReadonlyMap<string, string>;
  /** Share of capacity (and memory) left free. */
  headroom: number;
  /** Measured throughput per hardware class, from `buildCalibration()` over every known node. */
  calibration?: Calibration;
}

export type PlanResult = Pick<StorePlacement, 'pipelines' | 'shed' | 'moved' | 'objective'> & {
  /** Planned share of each node's capacity (0..1 − headroom). */
  utilization: Record<string, number>;
};

/** Measured fps per hardware class and model: per core for CPU classes, per node for GPU classes. */
export type Calibration = ReadonlyMap<string, number>;

const GPU_EPS = new Set(['cuda', 'tensorrt']);
const GPU_BONUS = 0.1;
/** A move in pass C must gain at least this share of the pipeline's requested fps. */
const MOVE_GAIN = 0.1;
const EPS = 1e-9;

export function priorityWeight(priority: number): number {
  return 10 * 4 ** priority;
}

export function pipelineKey(p: { cameraId: string; model: string }): string {
  return `${p.cameraId}/${p.model}`;
}

export function isGpuNode(n: Pick<PlannerNode, 'gpuCount' | 'executionProviders'>): boolean {
  return n.gpuCount > 0 && n.executionProviders.some((e) => GPU_EPS.has(e));
}

const ARCH_ALIASES: Record<string, string> = { amd64: 'x64', x86_64: 'x64', aarch64: 'arm64' };
export const normaliseArch = (a: string): string => ARCH_ALIASES[a] ?? a;

export function hardwareClass(n: PlannerNode): string {
  return isGpuNode(n) ? `${normaliseArch(n.arch)}/gpu:${n.gpuName ?? 'any'}` : `${normaliseArch(n.arch)}/cpu`;
}

/** Median measured throughput per (class, model) over `nodes` (per core on CPU classes). */
export function buildCalibration(nodes: readonly PlannerNode[]): Calibration {
  const samples = new Map<string, number[]>();
  for (const n of nodes) {
    const cls = hardwareClass(n);
    const gpu = isGpuNode(n);
    for (const [model, fps] of Object.entries(n.throughput)) {
      const key = `${cls}|${model}`;
      const list = samples.get(key) ?? [];
      list.push(gpu ? fps : fps / n.cores);
      samples.set(key, list);
    }
  }
  const out = new Map<string, number>();
  for (const [k, list] of samples) {
    list.sort((a, b) => a - b);
    out.set(k, list[Math.floor(list.length / 2)]!);
  }
  return out;
}

/** Frames/s node `n` sustains running only `model`, and where the figure comes from. */
export function throughputOf(
  n: PlannerNode,
  model: string,
  req: ModelRequirements,
  calibration?: Calibration,
): { fps: number; source: PlacedPipeline['costSource'] } {
  const measured = n.throughput[model];
  if (measured !== undefined && measured > 0) return { fps: measured, source: 'measured' };
  const gpu = isGpuNode(n);
  const cls = calibration?.get(`${hardwareClass(n)}|${model}`);
  if (cls !== undefined) return { fps: gpu ? cls : cls * n.cores, source: 'class' };
  return { fps: gpu ? req.gpuFps : req.cpuFpsPerCore * n.cores, source: 'estimate' };
}

/** Why `n` can never run `model` (static requirements), or undefined when it can. */
export function ineligibility(n: PlannerNode, model: string, req: ModelRequirements, headroom: number) {
  if (!n.models.includes(model)) return `${n.nodeId} has not loaded ${model}`;
  if (req.executionProviders && !req.executionProviders.some((e) => n.executionProviders.includes(e)))
    return `${n.nodeId} has none of the execution providers ${req.executionProviders.join('/')}`;
  if (req.arch && !req.arch.map(normaliseArch).includes(normaliseArch(n.arch)))
    return `${n.nodeId} is ${n.arch}, ${model} needs ${req.arch.join('/')}`;
  if (req.memoryBytes > n.memoryBytes * (1 - headroom))
    return `${n.nodeId} has ${fmtMiB(n.memoryBytes * (1 - headroom))} usable memory, ${model} needs ${fmtMiB(req.memoryBytes)}`;
  return undefined;
}

const fmtMiB = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
const round2 = (x: number) => Math.floor(x * 100 + EPS) / 100;

interface Slot {
  node: PlannerNode;
  cap: number;
  used: number;
  memCap: number;
  memUsed: number;
  models: Map<string, number>;
  cameras: Map<string, number>;
  gpu: boolean;
}

interface Work {
  p: PlannerPipeline;
  req: ModelRequirements;
  key: string;
  eligible: Slot[];
  cost: Map<string, { cost: number; source: PlacedPipeline['costSource'] }>;
  slot?: Slot;
  fps: number;
}

/** Plans one store (or any set of node pools; pipelines only go to nodes of their own pool). */
export function plan(input: PlanInput): PlanResult {
  const { headroom } = input;
  const slots = new Map<string, Slot>();
  for (const n of input.nodes) {
    if (!n.ready) continue;
    slots.set(n.nodeId, {
      node: n,
      cap: 1 - headroom,
      used: 0,
      memCap: n.memoryBytes * (1 - headroom),
      memUsed: 0,
      models: new Map(),
      cameras: new Map(),
      gpu: isGpuNode(n),
    });
  }
  const shed: ShedPipeline[] = [];
  const works: Work[] = [];
  for (const p of input.pipelines) {
    const req = input.requirements(p.model);
    const pool = [...slots.values()].filter((s) => s.node.nodePool === p.nodePool);
    const dead = input.nodes.filter((n) => n.nodePool === p.nodePool);
    if (pool.length === 0) {
      shed.push({
        cameraId: p.cameraId,
        model: p.model,
        reason: 'no_ready_node',
        requestedFps: p.fps,
        fps: 0,
        detail:
          dead.length === 0
            ? `node pool ${p.nodePool} has no nodes`
            : `node pool ${p.nodePool} has no ready node (${dead.map((n) => n.nodeId).join(', ')} lost)`,
      });
      continue;
    }
    const reasons: string[] = [];
    const eligible: Slot[] = [];
    const cost = new Map<string, { cost: number; source: PlacedPipeline['costSource'] }>();
    for (const s of pool) {
      const why = ineligibility(s.node, p.model, req, headroom);
      if (why) {
        reasons.push(why);
        continue;
      }
      eligible.push(s);
      const t = throughputOf(s.node, p.model, req, input.calibration);
      cost.set(s.node.nodeId, { cost: 1 / t.fps, source: t.source });
    }
    if (eligible.length === 0) {
      shed.push({
        cameraId: p.cameraId,
        model: p.model,
        reason: 'no_eligible_node',
        requestedFps: p.fps,
        fps: 0,
        detail: `no ready node of pool ${p.nodePool} can run ${p.model}: ${reasons.join('; ')}`,
      });
      continue;
    }
    works.push({ p, req, key: pipelineKey(p), eligible, cost, fps: 0 });
  }

  const minCost = (w: Work) => Math.min(...[...w.cost.values()].map((c) => c.cost)) * w.p.minFps;
  works.sort(
    (a, b) =>
      b.p.priority - a.p.priority || minCost(b) - minCost(a) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
  const preferGpuInPool = new Set(works.filter((w) => w.req.preferGpu).map((w) => w.p.nodePool));

  const fits = (w: Work, s: Slot, fps: number) =>
    s.used + fps * w.cost.get(s.node.nodeId)!.cost <= s.cap + EPS &&
    (s.models.has(w.p.model) || s.memUsed + w.req.memoryBytes <= s.memCap + EPS);
  const put = (w: Work, s: Slot, fps: number) => {
    w.slot = s;
    w.fps = fps;
    s.used += fps * w.cost.get(s.node.nodeId)!.cost;
    if (!s.models.has(w.p.model)) s.memUsed += w.req.memoryBytes;
    s.models.set(w.p.model, (s.models.get(w.p.model) ?? 0) + 1);
    s.cameras.set(w.p.cameraId, (s.cameras.get(w.p.cameraId) ?? 0) + 1);
  };
  const take = (w: Work) => {
    const s = w.slot!;
    s.used -= w.fps * w.cost.get(s.node.nodeId)!.cost;
    const left = s.models.get(w.p.model)! - 1;
    if (left === 0) {
      s.models.delete(w.p.model);
      s.memUsed -= w.req.memoryBytes;
    } else s.models.set(w.p.model, left);
    const cams = s.cameras.get(w.p.cameraId)! - 1;
    if (cams === 0) s.cameras.delete(w.p.cameraId);
    else s.cameras.set(w.p.cameraId, cams);
    w.slot = undefined;
    w.fps = 0;
  };

  // A. coverage at minFps.
  for (const w of works) {
    const candidates = w.eligible.filter((s) => fits(w, s, w.p.minFps));
    if (candidates.length === 0) {
      const need = w.eligible
        .map(
          (s) =>
            `${s.node.nodeId} ${Math.round((s.cap - s.used) * 100)}% free, needs ${Math.round(w.p.minFps * w.cost.get(s.node.nodeId)!.cost * 100)}%`,
        )
        .join('; ');
      shed.push({
        cameraId: w.p.cameraId,
        model: w.p.model,
        reason: 'capacity',
        requestedFps: w.p.fps,
        fps: 0,
        detail: `not enough capacity at minFps ${w.p.minFps} (priority ${w.p.priority}): ${need}`,
      });
      continue;
    }
    const cur = input.current?.get(w.key);
    const stay = cur ? candidates.find((s) => s.node.nodeId === cur) : undefined;
    put(w, stay ?? best(w, candidates, preferGpuInPool.has(w.p.nodePool)), w.p.minFps);
  }

  // B. spare capacity raises fps.
  const placed = works.filter((w) => w.slot);
  const fill = (s: Slot) => {
    const here = placed
      .filter((w) => w.slot === s && w.fps < w.p.fps - EPS)
      .sort(
        (a, b) =>
          1 / (b.p.fps * b.cost.get(s.node.nodeId)!.cost) - 1 / (a.p.fps * a.cost.get(s.node.nodeId)!.cost) ||
          b.p.priority - a.p.priority ||
          (a.key < b.key ? -1 : 1),
      );
    for (const w of here) {
      const c = w.cost.get(s.node.nodeId)!.cost;
      const room = s.cap - s.used;
      if (room <= EPS) break;
      const extra = Math.min(w.p.fps - w.fps, room / c);
      s.used += extra * c;
      w.fps += extra;
    }
  };
  for (const s of slots.values()) fill(s);

  // C. moves that pay for themselves.
  for (const w of [...placed].sort((a, b) => b.p.priority - a.p.priority)) {
    if (w.fps >= w.p.fps - EPS) continue;
    const from = w.slot!;
    let target: Slot | undefined;
    let gain = MOVE_GAIN * w.p.fps;
    for (const s of w.eligible) {
      if (s === from || !fits(w, s, w.p.minFps)) continue;
      const c = w.cost.get(s.node.nodeId)!.cost;
      const fps = Math.min(w.p.fps, (s.cap - s.used) / c);
      if (fps - w.fps > gain) {
        gain = fps - w.fps;
        target = s;
      }
    }
    if (!target) continue;
    const c = w.cost.get(target.node.nodeId)!.cost;
    const fps = Math.min(w.p.fps, (target.cap - target.used) / c);
    take(w);
    put(w, target, fps);
    fill(from);
  }

  const pipelines: PlacedPipeline[] = [];
  let objective = 0;
  let moved = 0;
  for (const w of placed) {
    const s = w.slot!;
    const fps = Math.max(w.p.minFps, round2(w.fps));
    const c = w.cost.get(s.node.nodeId)!;
    pipelines.push({
      cameraId: w.p.cameraId,
      model: w.p.model,
      nodeId: s.node.nodeId,
      fps,
      requestedFps: w.p.fps,
      load: fps * c.cost,
      costSource: c.source,
    });
    objective += pipelineValue(w.p, w.req, fps, s.gpu);
    const cur = input.current?.get(w.key);
    if (cur !== undefined && cur !== s.node.nodeId) moved++;
    if (fps < w.p.fps - 0.01)
      shed.push({
        cameraId: w.p.cameraId,
        model: w.p.model,
        reason: 'fps_lowered',
        requestedFps: w.p.fps,
        fps,
        detail: `runs at ${fps} of ${w.p.fps} fps on ${s.node.nodeId}: the pool lacks capacity`,
      });
  }
  const byKey = (a: { cameraId: string; model: string }, b: { cameraId: string; model: string }) =>
    a.cameraId < b.cameraId ? -1 : a.cameraId > b.cameraId ? 1 : a.model < b.model ? -1 : 1;
  pipelines.sort(byKey);
  shed.sort(byKey);
  const utilization: Record<string, number> = {};
  for (const s of slots.values()) utilization[s.node.nodeId] = s.used;
  return { pipelines, shed, moved, objective, utilization };
}

/** The stated objective's value of one pipeline placed at `fps`. */
export function pipelineValue(
  p: Pick<PlannerPipeline, 'priority' | 'fps'>,
  req: Pick<ModelRequirements, 'preferGpu'>,
  fps: number,
  onGpu: boolean,
): number {
  return priorityWeight(p.priority) + fps / p.fps + (req.preferGpu && onGpu ? GPU_BONUS : 0);
}

function best(w: Work, candidates: Slot[], gpuWanted: boolean): Slot {
  let chosen = candidates[0]!;
  let chosenScore = Number.POSITIVE_INFINITY;
  for (const s of candidates) {
    const c = w.cost.get(s.node.nodeId)!.cost;
    let score = (s.used + w.p.minFps * c) / s.cap; // spread: least utilised after placing
    if (w.req.preferGpu && s.gpu) score -= 100;
    // Keep GPU room for the models that want it.
    else if (!w.req.preferGpu && s.gpu && gpuWanted) score += 1;
    if (s.cameras.has(w.p.cameraId)) score -= 0.25; // decode once for the camera's models
    if (
      score < chosenScore - EPS ||
      (Math.abs(score - chosenScore) <= EPS && s.node.nodeId < chosen.node.nodeId)
    ) {
      chosen = s;
      chosenScore = score;
    }
  }
  return chosen;
}
