import { createHash } from 'node:crypto';
import type {
  AssignedCamera,
  ModelRequirements,
  NodeAssignment,
  StorePlacement,
} from '@storevision/contracts';
import { modelRequirementsSchema } from '@storevision/contracts';
import type { Logger } from 'pino';
import { OrchError } from '../errors.ts';
import type { OrchestratorMetrics } from '../metrics.ts';
import {
  buildCalibration,
  type Calibration,
  type PlannerNode,
  type PlannerPipeline,
  pipelineKey,
  plan,
} from '../planner/planner.ts';
import type { NodeRecord, StateRepository } from '../repositories/state.repository.ts';

export interface PlacementServiceOptions {
  repository: StateRepository;
  metrics: OrchestratorMetrics;
  logger: Logger;
  headroom: number;
  now?: () => number;
  /** Told of every new assignment version (the Kubernetes backend writes it to the node's ConfigMap). */
  onPublish?: (assignment: NodeAssignment) => void;
}

const DEFAULT_REQUIREMENTS = modelRequirementsSchema.parse({});

/**
 * Keeps every store's plan current: re-plans a store on each change of its inventory (the
 * planner is fast enough to do it synchronously), turns the plan into per-node assignments with
 * versions, and wakes the edges long-polling for them.
 */
export class PlacementService {
  readonly #o: PlacementServiceOptions;
  readonly #now: () => number;
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #utilization = new Map<string, number>();
  #calibration: Calibration | undefined;
  #closed = false;

  constructor(opts: PlacementServiceOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  requirements(model: string): ModelRequirements {
    return this.#o.repository.requirements.get(model) ?? DEFAULT_REQUIREMENTS;
  }

  /** Measured capacities changed somewhere: class calibrations are recomputed at the next plan. */
  invalidateCalibration(): void {
    this.#calibration = undefined;
  }

  utilization(nodeId: string): number {
    return this.#utilization.get(nodeId) ?? 0;
  }

  /** The default node pool of a store's cameras: its nodes' pool when they share one, else the store id. */
  defaultPool(storeId: string): string {
    const pools = new Set(this.#storeNodes(storeId).map((n) => n.report.labels.nodePool ?? storeId));
    return pools.size === 1 ? [...pools][0]! : storeId;
  }

  /** Re-plans one store and publishes the changed assignments. */
  replan(storeId: string, reason: string): StorePlacement {
    const repo = this.#o.repository;
    const started = performance.now();
    this.#calibration ??= buildCalibration([...repo.nodes.values()].map(toPlannerNode));
    const nodes = this.#storeNodes(storeId);
    const pool = this.defaultPool(storeId);
    const pipelines: PlannerPipeline[] = [];
    for (const cam of repo.camerasOf(storeId).values())
      for (const p of cam.spec.pipelines)
        pipelines.push({
          cameraId: cam.cameraId,
          model: p.model,
          fps: cam.spec.fps,
          minFps: p.minFps ?? cam.spec.fps,
          priority: p.priority,
          nodePool: cam.spec.nodePool ?? pool,
        });
    const prev = repo.placements.get(storeId);
    const current = new Map(prev?.pipelines.map((p) => [pipelineKey(p), p.nodeId]));
    const result = plan({
      nodes: nodes.map(toPlannerNode),
      pipelines,
      current,
      headroom: this.#o.headroom,
      requirements: (m) => this.requirements(m),
      calibration: this.#calibration,
    });
    this.#o.metrics.planSeconds.observe((performance.now() - started) / 1000);
    this.#o.metrics.replans.inc({ reason });
    for (const n of nodes) this.#utilization.set(n.nodeId, result.utilization[n.nodeId] ?? 0);
    const same =
      prev !== undefined &&
      JSON.stringify([prev.pipelines, prev.shed]) === JSON.stringify([result.pipelines, result.shed]);
    const placement: StorePlacement = same
      ? prev
      : {
          storeId,
          version: (prev?.version ?? 0) + 1,
          plannedAt: this.#now(),
          pipelines: result.pipelines,
          shed: result.shed,
          moved: result.moved,
          objective: result.objective,
        };
    if (!same) {
      repo.placements.set(storeId, placement);
      this.#o.metrics.pipelinesMoved.inc(result.moved);
      this.#o.logger.info(
        {
          storeId,
          reason,
          version: placement.version,
          placed: result.pipelines.length,
          shed: result.shed.map((s) => `${s.cameraId}/${s.model}:${s.reason}`),
          moved: result.moved,
        },
        'store re-planned',
      );
    }
    for (const n of nodes) this.#publish(n.nodeId);
    repo.changed();
    return placement;
  }

  /** Re-computes one node's assignment; a new version (and wake-up) only when its content changed. */
  #publish(nodeId: string): void {
    const repo = this.#o.repository;
    const content = JSON.stringify(this.#assignmentContent(nodeId));
    const prev = repo.assignments.get(nodeId);
    if (prev?.content === content) return;
    const version = (prev?.version ?? 0) + 1;
    repo.assignments.set(nodeId, { version, content });
    const waiters = this.#waiters.get(nodeId);
    if (waiters) for (const wake of waiters) wake();
    this.#o.onPublish?.({ ...(JSON.parse(content) as Omit<NodeAssignment, 'version'>), version });
  }

  /** A node that moved to another store: its old store's plan drops it, its assignment follows. */
  republish(nodeId: string): void {
    this.#publish(nodeId);
  }

  #assignmentContent(nodeId: string): Omit<NodeAssignment, 'version'> {
    const repo = this.#o.repository;
    const node = repo.nodes.get(nodeId);
    const storeId = node?.report.labels.store ?? '';
    const placement = repo.placements.get(storeId);
    const cams = repo.camerasOf(storeId);
    const mine = new Map<string, AssignedCamera>();
    const owners: Record<string, string[]> = {};
    for (const p of placement?.pipelines ?? []) {
      owners[p.cameraId] ??= [];
      if (!owners[p.cameraId]!.includes(p.nodeId)) owners[p.cameraId]!.push(p.nodeId);
      if (p.nodeId !== nodeId || node?.status !== 'ready') continue;
      const cam = cams.get(p.cameraId);
      if (!cam) continue;
      const spec = cam.spec.pipelines.find((x) => x.model === p.model);
      const a = mine.get(p.cameraId) ?? {
        cameraId: p.cameraId,
        source: cam.spec.source,
        fps: 0,
        pipelines: [],
      };
      a.fps = Math.max(a.fps, p.fps);
      a.pipelines.push({
        model: p.model,
        fps: p.fps,
        ...(spec?.analytics ? { analytics: spec.analytics } : {}),
      });
      mine.set(p.cameraId, a);
    }
    for (const list of Object.values(owners)) list.sort();
    // Every camera's analytics config, so a node adopting one by the store-local rule counts it too.
    const analytics: Record<string, NonNullable<AssignedCamera['pipelines'][number]['analytics']>> = {};
    for (const cam of [...cams.values()].sort((a, b) => (a.cameraId < b.cameraId ? -1 : 1))) {
      const config = cam.spec.pipelines.find((x) => x.analytics)?.analytics;
      if (config) analytics[cam.cameraId] = config;
    }
    return {
      nodeId,
      storeId,
      planVersion: placement?.version ?? 0,
      cameras: [...mine.values()],
      store: {
        nodes: this.#storeNodes(storeId).map((n) => ({
          nodeId: n.nodeId,
          address: n.report.address,
          status: n.status,
        })),
        owners,
        analytics,
      },
    };
  }

  assignment(nodeId: string): NodeAssignment {
    const rec = this.#o.repository.assignments.get(nodeId);
    if (!this.#o.repository.nodes.has(nodeId) || !rec)
      throw new OrchError('ORCH_ERR_NODE_NOT_FOUND', `node ${nodeId} has not registered`);
    return { ...(JSON.parse(rec.content) as Omit<NodeAssignment, 'version'>), version: rec.version };
  }

  /**
   * The node's assignment; when `knownVersion` is its current version, waits up to `waitMs` for a
   * newer one (long-poll). `changed` is false when the wait ended without one.
   */
  async waitAssignment(
    nodeId: string,
    knownVersion: number | undefined,
    waitMs: number,
  ): Promise<{ changed: boolean; assignment: NodeAssignment }> {
    const first = this.assignment(nodeId);
    if (knownVersion === undefined || first.version !== knownVersion || waitMs <= 0 || this.#closed)
      return { changed: first.version !== knownVersion, assignment: first };
    await new Promise<void>((resolve) => {
      const set = this.#waiters.get(nodeId) ?? new Set();
      this.#waiters.set(nodeId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.#waiters.delete(nodeId);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      set.add(done);
    });
    const next = this.assignment(nodeId);
    return { changed: next.version !== knownVersion, assignment: next };
  }

  /** Ends every long-poll (shutdown). */
  close(): void {
    this.#closed = true;
    for (const set of this.#waiters.values()) for (const wake of [...set]) wake();
  }

  #storeNodes(storeId: string): NodeRecord[] {
    return [...this.#o.repository.nodes.values()]
      .filter((n) => n.report.labels.store === storeId)
      .sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  }
}

/** An ETag of an assignment version, and the version an `If-None-Match` names. */
export const assignmentEtag = (version: number) => `"${version}"`;
export function parseIfNoneMatch(header: string | undefined): number | undefined {
  const m = header ? /^\s*(?:W\/)?"(\d+)"\s*$/.exec(header) : null;
  return m ? Number(m[1]) : undefined;
}

/** Hash of anything JSON, for change detection. */
export const digest = (x: unknown) => createHash('sha1').update(JSON.stringify(x)).digest('hex');

export function toPlannerNode(n: NodeRecord): PlannerNode {
  const c = n.report.capabilities;
  return {
    nodeId: n.nodeId,
    nodePool: n.report.labels.nodePool ?? n.report.labels.store,
    ready: n.status === 'ready',
    arch: c.arch,
    cores: c.cores,
    memoryBytes: c.memoryBytes,
    gpuCount: c.gpus.length,
    gpuName: c.gpus[0]?.name,
    executionProviders: c.executionProviders,
    models: c.models,
    throughput: Object.fromEntries(Object.entries(c.throughput).map(([m, t]) => [m, t.fps])),
  };
}
