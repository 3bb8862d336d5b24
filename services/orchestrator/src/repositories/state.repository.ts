import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type {
  CameraSpec,
  ModelRequirements,
  NodeReport,
  NodeStatus,
  StorePlacement,
} from '@storevision/contracts';
import type { Logger } from 'pino';

export interface NodeRecord {
  nodeId: string;
  report: NodeReport;
  status: NodeStatus;
  registeredAt: number;
  lastHeartbeatAt: number;
  /** Why the node is `lost` (no heartbeat; its Kubernetes Node is NotReady, cordoned or absent). */
  statusReason?: string | undefined;
  /**
   * Kubernetes backend: the edge's own report, before the Node object's labels and hardware were
   * merged into `report` (kept so a change of the Node object can be merged again).
   */
  reported?: NodeReport | undefined;
}

export interface CameraRecord {
  storeId: string;
  cameraId: string;
  spec: CameraSpec;
  updatedAt: number;
}

export interface AssignmentRecord {
  version: number;
  /** JSON of the assignment without its version: a new version only when this changes. */
  content: string;
}

interface Snapshot {
  format: 1;
  nodes: NodeRecord[];
  cameras: CameraRecord[];
  requirements: Record<string, ModelRequirements>;
  placements: StorePlacement[];
  assignments: Record<string, AssignmentRecord>;
}

/**
 * The standalone backend's state: in memory, written to `<dataDir>/state.json` (temp file +
 * rename, so a crash leaves the old or the new snapshot, never half of one) at most every
 * `flushMs` after a change. The state is small (a chain's inventory, not its frames), and the
 * orchestrator is one process per chain, so a database would buy nothing here; the Kubernetes
 * backend keeps the same state in the API server instead.
 */
export class StateRepository {
  readonly nodes = new Map<string, NodeRecord>();
  /** storeId → cameraId → camera. */
  readonly cameras = new Map<string, Map<string, CameraRecord>>();
  readonly requirements = new Map<string, ModelRequirements>();
  readonly placements = new Map<string, StorePlacement>();
  readonly assignments = new Map<string, AssignmentRecord>();
  readonly #file: string | undefined;
  readonly #flushMs: number;
  readonly #logger: Logger | undefined;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(opts: { dataDir?: string; flushMs?: number; logger?: Logger } = {}) {
    this.#file = opts.dataDir ? path.join(opts.dataDir, 'state.json') : undefined;
    this.#flushMs = opts.flushMs ?? 200;
    this.#logger = opts.logger;
  }

  /**
   * Loads the snapshot, if any. Nodes come back with a fresh heartbeat time: after a restart of
   * the orchestrator each node gets one full timeout to report in before it counts as lost.
   */
  async load(now: number): Promise<void> {
    if (!this.#file) return;
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const s = JSON.parse(text) as Snapshot;
    for (const n of s.nodes) this.nodes.set(n.nodeId, { ...n, lastHeartbeatAt: now });
    for (const c of s.cameras) this.camerasOf(c.storeId, true).set(c.cameraId, c);
    for (const [m, r] of Object.entries(s.requirements)) this.requirements.set(m, r);
    for (const p of s.placements) this.placements.set(p.storeId, p);
    for (const [n, a] of Object.entries(s.assignments)) this.assignments.set(n, a);
  }

  camerasOf(storeId: string, create = false): Map<string, CameraRecord> {
    let m = this.cameras.get(storeId);
    if (!m) {
      m = new Map();
      if (create) this.cameras.set(storeId, m);
    }
    return m;
  }

  /** Schedules a snapshot write. */
  changed(): void {
    if (!this.#file || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#flushMs);
    this.#timer.unref();
  }

  /** Writes the snapshot now (and waits for any write in progress). */
  async flush(): Promise<void> {
    const file = this.#file;
    if (!file) return;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const snapshot: Snapshot = {
      format: 1,
      nodes: [...this.nodes.values()],
      cameras: [...this.cameras.values()].flatMap((m) => [...m.values()]),
      requirements: Object.fromEntries(this.requirements),
      placements: [...this.placements.values()],
      assignments: Object.fromEntries(this.assignments),
    };
    this.#writing = this.#writing.then(async () => {
      try {
        await mkdir(path.dirname(file), { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, JSON.stringify(snapshot));
        await rename(tmp, file);
      } catch (err) {
        this.#logger?.error({ err, file }, 'could not write the state snapshot');
      }
    });
    await this.#writing;
  }
}
