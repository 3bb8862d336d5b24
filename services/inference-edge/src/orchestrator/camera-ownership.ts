import type { NodeAssignment } from '@storevision/contracts';
import { EdgeError } from '../errors.ts';
import { localOwner } from './store-failover.ts';

/**
 * Which cameras this node runs, and with which models, from the last assignment of the
 * orchestrator. Before any assignment is known (no orchestrator configured, or none reached yet
 * and none kept in Redis) every camera runs every loaded model: today's behaviour.
 */
export class CameraOwnership {
  readonly #models: readonly string[];
  #assignment: NodeAssignment | undefined;
  #cameras = new Map<string, string[]>();

  readonly #isPeerDown: (nodeId: string) => boolean;
  readonly #retryAfterSeconds: number;

  constructor(opts: {
    models: readonly string[];
    /** Store-local failover (`StoreFailover.isDown`). @defaultValue never down: the plan decides */
    isPeerDown?: (nodeId: string) => boolean;
    /** `Retry-After` when no node runs a camera. @defaultValue 1 */
    retryAfterSeconds?: number;
  }) {
    this.#models = opts.models;
    this.#isPeerDown = opts.isPeerDown ?? (() => false);
    this.#retryAfterSeconds = opts.retryAfterSeconds ?? 1;
  }

  get assignment(): NodeAssignment | undefined {
    return this.#assignment;
  }

  set(assignment: NodeAssignment): void {
    this.#assignment = assignment;
    this.#cameras = new Map(
      assignment.cameras.map((c) => [
        c.cameraId,
        c.pipelines.map((p) => p.model).filter((m) => this.#models.includes(m)),
      ]),
    );
  }

  /**
   * Where a camera's frames go: run here with `models`, or forward to the owner node (`frameUrl`),
   * or nowhere (the plan places the camera on no node). Before an assignment is known every camera
   * runs here with every loaded model. While the orchestrator is unreachable and an owner is down,
   * the store-local rule (`localOwner`) picks the new owner; a camera adopted this way runs every
   * loaded model of this node (the plan only says who owns another node's camera, not its models).
   */
  route(cameraId: string): CameraRoute {
    const a = this.#assignment;
    if (!a) return { kind: 'local', models: this.#models };
    const isDown = this.#isPeerDown;
    const mine = this.#cameras.get(cameraId);
    // A camera of this node's own assignment stays here (this node is never down to itself).
    if (mine && mine.length > 0) return { kind: 'local', models: mine };
    const ownerId = localOwner(
      {
        ...a.store,
        // The plan's `ready` owners other than this node (an owner the plan marks lost has no say).
        owners: {
          [cameraId]: (a.store.owners[cameraId] ?? []).filter(
            (id) => id !== a.nodeId && a.store.nodes.some((n) => n.nodeId === id && n.status === 'ready'),
          ),
        },
      },
      cameraId,
      isDown,
    );
    if (ownerId === undefined) return { kind: 'none', storeId: a.storeId };
    if (ownerId === a.nodeId) return { kind: 'local', models: this.#models, adopted: true };
    const owner = a.store.nodes.find((n) => n.nodeId === ownerId)!;
    return {
      kind: 'remote',
      nodeId: owner.nodeId,
      frameUrl: `${owner.address.replace(/\/$/, '')}/v1/cameras/${cameraId}/frames`,
    };
  }

  /**
   * The models a camera's frames run here. A camera this node does not run is refused with 421
   * and the address of the node that runs it (`Location`), so that a camera pushing to any edge
   * of the store finds its owner; frames never leave the store. A camera the plan places nowhere
   * gets 503 with `Retry-After` (a new plan may place it).
   */
  modelsFor(cameraId: string): readonly string[] {
    const r = this.route(cameraId);
    if (r.kind === 'local') return r.models;
    throw routeError(cameraId, r, this.#retryAfterSeconds);
  }
}

/** Where a camera's frames go (see `CameraOwnership.route`). */
export type CameraRoute =
  | { kind: 'local'; models: readonly string[]; adopted?: boolean }
  | { kind: 'remote'; nodeId: string; frameUrl: string }
  | { kind: 'none'; storeId: string };

/** The refusal for a camera this node does not run: 421 + `Location`, or 503 when no node runs it. */
export function routeError(
  cameraId: string,
  r: Exclude<CameraRoute, { kind: 'local' }>,
  retryAfterSeconds: number,
  detail = '',
): EdgeError {
  if (r.kind === 'none')
    return new EdgeError(
      'EDGE_ERR_NO_CAMERA_OWNER',
      `camera ${cameraId} runs on no node of store ${r.storeId}`,
      {
        retryAfterSeconds,
      },
    );
  return new EdgeError(
    'EDGE_ERR_CAMERA_NOT_ASSIGNED',
    `camera ${cameraId} runs on node ${r.nodeId}${detail}`,
    {
      location: r.frameUrl,
    },
  );
}
