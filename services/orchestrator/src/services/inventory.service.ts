import {
  type CameraView,
  cameraIdSchema,
  cameraSpecSchema,
  type ModelRequirements,
  modelNameSchema,
  modelRequirementsSchema,
  type NodeReport,
  type NodeView,
  nodeIdSchema,
  nodeReportSchema,
  storeIdSchema,
} from '@storevision/contracts';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { OrchError, type OrchErrorCode } from '../errors.ts';
import type { NodeRecord, StateRepository } from '../repositories/state.repository.ts';
import type { PlacementService } from './placement.service.ts';

export interface InventoryServiceOptions {
  repository: StateRepository;
  placement: PlacementService;
  logger: Logger;
  now?: () => number;
  /** The Kubernetes backend's view of each node; the standalone backend has none. */
  cluster?: ClusterNodeSource;
  /** A node silent this long is lost (the failover sweep's rule, also used when the cluster changes). */
  heartbeatTimeoutMs?: number;
  /** A camera was put with these models (the hub sync looks up those it has no requirements for). */
  onModelsUsed?: (models: string[]) => void;
}

/**
 * What a cluster says about a node (the Kubernetes backend): the edge's report with the labels
 * and hardware of its Node object merged in, and whether the cluster lets it run work (its Node
 * exists, is Ready and is not cordoned).
 */
export interface ClusterNodeSource {
  merge(nodeId: string, reported: NodeReport): ClusterMerge;
}
export interface ClusterMerge {
  report: NodeReport;
  ready: boolean;
  /** Why not ready. */
  reason?: string | undefined;
}

/** Nodes (registration, heartbeats), cameras and model requirements; every change re-plans its store. */
export class InventoryService {
  readonly #o: InventoryServiceOptions;
  readonly #now: () => number;

  constructor(opts: InventoryServiceOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** `PUT /v1/nodes/{nodeId}`: registers, heartbeats, and re-plans when what the planner sees changed. */
  putNode(nodeId: string, body: unknown): { node: NodeView; assignmentVersion: number; created: boolean } {
    checkId(nodeIdSchema, nodeId, 'node id');
    const reported = parse(nodeReportSchema, body, 'ORCH_ERR_BAD_CAPABILITIES');
    const merged = this.#o.cluster?.merge(nodeId, reported) ?? { report: reported, ready: true };
    const conflict = this.#labelConflict(nodeId, merged.report);
    if (conflict) throw new OrchError('ORCH_ERR_LABEL_CONFLICT', conflict);
    const repo = this.#o.repository;
    const now = this.#now();
    const prev = repo.nodes.get(nodeId);
    const rec: NodeRecord = {
      nodeId,
      report: merged.report,
      status: merged.ready ? 'ready' : 'lost',
      registeredAt: prev?.registeredAt ?? now,
      lastHeartbeatAt: now,
      ...(merged.ready ? {} : { statusReason: merged.reason }),
      ...(this.#o.cluster ? { reported } : {}),
    };
    this.#commit(prev, rec);
    return {
      node: this.view(rec),
      assignmentVersion: repo.assignments.get(nodeId)?.version ?? 0,
      created: !prev,
    };
  }

  /**
   * The cluster's view of a node changed (Kubernetes backend: its Node object was added, labelled,
   * made NotReady, cordoned or deleted): merges the edge's last report again and re-plans the
   * stores concerned, exactly as a heartbeat with that change would. A node that is not ready in
   * the cluster is `lost` at once — a NotReady Node fails over like a missed heartbeat. A node the
   * edge never reported is not planned (only the edge knows its address, models and throughput).
   */
  refreshFromCluster(nodeId: string): void {
    const repo = this.#o.repository;
    const prev = repo.nodes.get(nodeId);
    if (!prev?.reported || !this.#o.cluster) return;
    const merged = this.#o.cluster.merge(nodeId, prev.reported);
    const silentMs = this.#now() - prev.lastHeartbeatAt;
    const heartbeatFresh = silentMs <= (this.#o.heartbeatTimeoutMs ?? Number.POSITIVE_INFINITY);
    let ready = merged.ready && heartbeatFresh;
    let reason = merged.ready ? `no heartbeat for ${silentMs} ms` : merged.reason;
    const conflict = this.#labelConflict(nodeId, merged.report);
    if (conflict) {
      ready = false;
      reason = `label conflict: ${conflict}`;
    }
    const { statusReason: _old, ...rest } = prev;
    const rec: NodeRecord = {
      ...rest,
      report: merged.report,
      status: ready ? 'ready' : 'lost',
      ...(ready ? {} : { statusReason: reason }),
    };
    this.#commit(prev, rec);
  }

  /** Why `report`'s node pool cannot be this node's: it belongs to another store. */
  #labelConflict(nodeId: string, report: NodeReport): string | undefined {
    const { store } = report.labels;
    const pool = report.labels.nodePool ?? store;
    for (const other of this.#o.repository.nodes.values()) {
      if (other.nodeId === nodeId) continue;
      const otherPool = other.report.labels.nodePool ?? other.report.labels.store;
      if (otherPool === pool && other.report.labels.store !== store)
        return `node pool ${pool} belongs to store ${other.report.labels.store} (node ${other.nodeId}), not ${store}`;
    }
    return undefined;
  }

  /** Stores a node's new record and re-plans its store (and the one it left) when the planner would see a change. */
  #commit(prev: NodeRecord | undefined, rec: NodeRecord): void {
    const repo = this.#o.repository;
    const { nodeId } = rec;
    const store = rec.report.labels.store;
    repo.nodes.set(nodeId, rec);
    const planned = (r: NodeRecord | undefined) =>
      r && JSON.stringify([r.report.address, r.report.labels, r.report.capabilities]);
    let reason: string | undefined;
    if (!prev) reason = 'node_registered';
    else if (prev.status === 'lost' && rec.status === 'ready') reason = 'node_returned';
    else if (prev.status === 'ready' && rec.status === 'lost') reason = 'node_not_ready';
    else if (planned(prev) !== planned(rec)) reason = 'node_changed';
    if (!reason) return;
    if (!prev || JSON.stringify(prev.report.capabilities) !== JSON.stringify(rec.report.capabilities))
      this.#o.placement.invalidateCalibration();
    const log = { nodeId, store, reason, address: rec.report.address, statusReason: rec.statusReason };
    if (reason === 'node_not_ready') this.#o.logger.warn(log, 'node cannot run work: its cameras move');
    else this.#o.logger.info(log, 'node reported');
    const oldStore = prev?.report.labels.store;
    if (oldStore && oldStore !== store) this.#o.placement.replan(oldStore, 'node_left');
    this.#o.placement.replan(store, reason);
    repo.changed();
  }

  listNodes(filter: { store?: string } = {}): NodeView[] {
    return [...this.#o.repository.nodes.values()]
      .filter((n) => !filter.store || n.report.labels.store === filter.store)
      .sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1))
      .map((n) => this.view(n));
  }

  view(n: NodeRecord): NodeView {
    return {
      nodeId: n.nodeId,
      ...n.report,
      status: n.status,
      ...(n.status === 'lost' && n.statusReason ? { statusReason: n.statusReason } : {}),
      registeredAt: n.registeredAt,
      lastHeartbeatAt: n.lastHeartbeatAt,
      plannedUtilization: this.#o.placement.utilization(n.nodeId),
    };
  }

  /** A store exists once one of its nodes registered (the inventory learns stores from node labels). */
  knownStore(storeId: string): boolean {
    for (const n of this.#o.repository.nodes.values()) if (n.report.labels.store === storeId) return true;
    return false;
  }

  putCamera(storeId: string, cameraId: string, body: unknown): { camera: CameraView; created: boolean } {
    checkId(storeIdSchema, storeId, 'store id');
    checkId(cameraIdSchema, cameraId, 'camera id');
    if (!this.knownStore(storeId)) throw new OrchError('ORCH_ERR_UNKNOWN_STORE', `store ${storeId}`);
    if (body && typeof body === 'object' && 'pipelines' in body) {
      const p = (body as { pipelines: unknown }).pipelines;
      if (Array.isArray(p) && p.length === 0)
        throw new OrchError('ORCH_ERR_NO_PIPELINES', `camera ${cameraId} has an empty pipelines list`);
    } else if (body && typeof body === 'object')
      throw new OrchError('ORCH_ERR_NO_PIPELINES', `camera ${cameraId} has no pipelines`);
    const spec = parse(cameraSpecSchema, body, 'ORCH_ERR_BAD_CAMERA');
    const repo = this.#o.repository;
    const cams = repo.camerasOf(storeId, true);
    const created = !cams.has(cameraId);
    const camera = { storeId, cameraId, spec, updatedAt: this.#now() };
    cams.set(cameraId, camera);
    this.#o.placement.replan(storeId, created ? 'camera_added' : 'camera_changed');
    const unknown = spec.pipelines.map((p) => p.model).filter((m) => !repo.requirements.has(m));
    if (unknown.length > 0) this.#o.onModelsUsed?.([...new Set(unknown)]);
    return { camera, created };
  }

  listCameras(storeId: string): CameraView[] {
    checkId(storeIdSchema, storeId, 'store id');
    if (!this.knownStore(storeId) && !this.#o.repository.cameras.has(storeId))
      throw new OrchError('ORCH_ERR_UNKNOWN_STORE', `store ${storeId}`);
    return [...this.#o.repository.camerasOf(storeId).values()].sort((a, b) =>
      a.cameraId < b.cameraId ? -1 : 1,
    );
  }

  deleteCamera(storeId: string, cameraId: string): void {
    checkId(storeIdSchema, storeId, 'store id');
    checkId(cameraIdSchema, cameraId, 'camera id');
    const cams = this.#o.repository.camerasOf(storeId);
    if (!cams.delete(cameraId))
      throw new OrchError('ORCH_ERR_CAMERA_NOT_FOUND', `camera ${cameraId} of store ${storeId}`);
    this.#o.placement.replan(storeId, 'camera_removed');
  }

  /** `PUT /v1/models/{model}/requirements`: re-plans every store that runs the model. */
  putRequirements(model: string, body: unknown): ModelRequirements {
    checkId(modelNameSchema, model, 'model name');
    const req = parse(modelRequirementsSchema, body, 'ORCH_ERR_BAD_REQUIREMENTS');
    const repo = this.#o.repository;
    repo.requirements.set(model, req);
    this.#o.placement.invalidateCalibration();
    for (const [storeId, cams] of repo.cameras)
      if ([...cams.values()].some((c) => c.spec.pipelines.some((p) => p.model === model)))
        this.#o.placement.replan(storeId, 'requirements_changed');
    repo.changed();
    return req;
  }

  /** Requirements as the API would store them (defaults filled in). */
  normalise(body: unknown): ModelRequirements {
    return parse(modelRequirementsSchema, body, 'ORCH_ERR_BAD_REQUIREMENTS');
  }

  getRequirements(model: string): ModelRequirements {
    checkId(modelNameSchema, model, 'model name');
    return this.#o.placement.requirements(model);
  }
}

function checkId(schema: z.ZodType, value: string, what: string): void {
  if (!schema.safeParse(value).success)
    throw new OrchError('ORCH_ERR_BAD_ID', `bad ${what} "${value.slice(0, 80)}"`);
}

function parse<T extends z.ZodType>(schema: T, body: unknown, code: OrchErrorCode): z.infer<T> {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const detail = r.error.issues
    .map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`)
    .join('; ');
  throw new OrchError(code, detail);
}
