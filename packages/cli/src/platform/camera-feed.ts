/**
 * Simulated store cameras for `storevision up`: each camera is a rendered scene, pre-rendered once
 * into the data folder (a loop of a few dozen seconds, reused by the next `up`), then pushed to the
 * store's edges in real time with fresh capture times, as a push-mode camera would: to any edge of
 * the store, following `421` + `Location` to the node the orchestrator placed it on, and trying the
 * next edge when one is down.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { SceneDescription, SceneName } from '@storevision/contracts';
import { sceneDescriptionSchema } from '@storevision/contracts';
import { SequenceRenderer, writeSequence } from '@storevision/scenes';

export interface CameraLoop {
  scene: SceneName;
  seed: number;
  description: SceneDescription;
  frames: Buffer[];
  fps: number;
}

/** Renders (or reuses) a camera's loop under `dir`. */
export async function prepareCameraLoop(o: {
  dir: string;
  scene: SceneName;
  seed: number;
  fps: number;
  seconds: number;
  width: number;
  height: number;
  onFrame?: (done: number, total: number) => void;
}): Promise<CameraLoop> {
  const frames = Math.max(1, Math.round(o.seconds * o.fps));
  const folder = join(o.dir, `${o.scene}-s${o.seed}-${o.width}x${o.height}-${o.fps}fps-${frames}f`);
  if (!existsSync(join(folder, 'scene.json'))) {
    const partial = `${folder}.partial`;
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial, { recursive: true });
    const r = new SequenceRenderer({
      scene: o.scene,
      seed: o.seed,
      frames,
      fps: o.fps,
      width: o.width,
      height: o.height,
    });
    await writeSequence(r, partial, (f) => o.onFrame?.(f.index + 1, frames));
    await rm(folder, { recursive: true, force: true });
    await rename(partial, folder);
  } else o.onFrame?.(frames, frames);
  const description = sceneDescriptionSchema.parse(
    JSON.parse(await readFile(join(folder, 'scene.json'), 'utf8')),
  );
  const files = (await readdir(join(folder, 'frames'))).filter((f) => f.endsWith('.jpg')).sort();
  return {
    scene: o.scene,
    seed: o.seed,
    description,
    frames: await Promise.all(files.map((f) => readFile(join(folder, 'frames', f)))),
    fps: o.fps,
  };
}

export interface CameraFeedStats {
  sent: number;
  accepted: number;
  failed: number;
  /** Base URL of the edge that took the last frame (the camera's owner, or an edge forwarding to it). */
  owner: string | undefined;
}

/**
 * Pushes a loop to the store's edges at its frame rate until `stop()`. A frame that no edge
 * accepts is counted and skipped (a live camera does not queue).
 */
export class CameraFeed {
  readonly cameraId: string;
  readonly stats: CameraFeedStats = { sent: 0, accepted: 0, failed: 0, owner: undefined };
  readonly #loop: CameraLoop;
  readonly #edges: () => string[];
  #timer: NodeJS.Timeout | undefined;
  #inFlight = false;
  #i = 0;
  /** Where the last frame was accepted: tried first. */
  #target: string | undefined;

  constructor(cameraId: string, loop: CameraLoop, edges: () => string[]) {
    this.cameraId = cameraId;
    this.#loop = loop;
    this.#edges = edges;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.#tick(), 1000 / this.#loop.fps);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #tick(): Promise<void> {
    if (this.#inFlight) return; // the previous frame is still on its way: skip this one, as a camera would
    this.#inFlight = true;
    const frame = this.#loop.frames[this.#i % this.#loop.frames.length]!;
    this.#i++;
    this.stats.sent++;
    try {
      const ok = await this.#push(frame, Date.now());
      if (ok) this.stats.accepted++;
      else this.stats.failed++;
    } finally {
      this.#inFlight = false;
    }
  }

  async #push(jpeg: Buffer, captureTime: number): Promise<boolean> {
    const path = `/v1/cameras/${this.cameraId}/frames`;
    const bases = this.#edges();
    const order = this.#target ? [this.#target, ...bases.filter((b) => b !== this.#target)] : bases;
    for (const base of order) {
      let url = `${base}${path}`;
      for (let hop = 0; hop < 3; hop++) {
        let res: Response;
        try {
          res = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'image/jpeg', 'x-capture-time': String(captureTime) },
            body: jpeg,
            signal: AbortSignal.timeout(5000),
          });
        } catch {
          break; // this edge is down: try the next
        }
        await res.body?.cancel();
        const location = res.headers.get('location');
        if (res.status === 421 && location) {
          url = location;
          continue;
        }
        if (res.status === 202) {
          this.#target = new URL(url).origin;
          this.stats.owner = this.#target;
          return true;
        }
        break;
      }
    }
    this.#target = undefined;
    return false;
  }
}
