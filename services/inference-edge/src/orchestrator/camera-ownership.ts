import type { NodeAssignment } from '@storevision/contracts';
import { EdgeError } from '../errors.ts';

/**
 * Which cameras this node runs, and with which models, from the last assignment of the
 * orchestrator. Before any assignment is known (no orchestrator configured, or none reached yet
 * and none kept in Redis) every camera runs every loaded model: today's behaviour.
 */
export class CameraOwnership {
  readonly #models: readonly string[];
  #assignment: NodeAssignment | undefined;
  #cameras = new Map<string, string[]>();

  constructor(opts: { models: readonly string[] }) {
    this.#models = opts.models;
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
   * The models a camera's frames run here. A camera this node does not run is refused with 421
   * and the address of the node that runs it (`Location`), so that a camera pushing to any edge
   * of the store finds its owner; frames never leave the store.
   */
  modelsFor(cameraId: string): readonly string[] {
    const a = this.#assignment;
    if (!a) return this.#models;
    const mine = this.#cameras.get(cameraId);
    if (mine && mine.length > 0) return mine;
    const owner = (a.store.owners[cameraId] ?? [])
      .map((id) => a.store.nodes.find((n) => n.nodeId === id))
      .find((n) => n && n.nodeId !== a.nodeId && n.status === 'ready');
    if (!owner)
      throw new EdgeError(
        'EDGE_ERR_CAMERA_NOT_ASSIGNED',
        `camera ${cameraId} runs on no node of store ${a.storeId}`,
      );
    throw new EdgeError('EDGE_ERR_CAMERA_NOT_ASSIGNED', `camera ${cameraId} runs on node ${owner.nodeId}`, {
      location: `${owner.address.replace(/\/$/, '')}/v1/cameras/${cameraId}/frames`,
    });
  }
}
