/** What a scene provides to the renderer: a camera, the room, its zones and lines, and its people. */
import type { SceneName } from '@storevision/contracts';
import type { Camera, CameraSpec } from './camera.ts';
import type { Figure } from './figure.ts';
import type { Rng } from './rng.ts';
import type { FloorPt, World } from './world.ts';

export interface SceneContext {
  cam: Camera;
  rng: Rng;
  /** Multiplies every arrival rate: 1 is the scene as designed, 0.1 a quiet hour, 0 nobody comes. */
  crowd: number;
}

/** Something drawn in depth order with the people: furniture that can hide them, distractors, parked carts. */
export interface StaticItem {
  /** Camera depth (metres); larger is drawn first. */
  depth: number;
  svg: string;
  /**
   * Large static furniture (a shelf run with its products) is rasterised once per sequence and
   * composited in depth order, instead of being re-drawn from SVG every frame.
   */
  prerender?: boolean;
  /** Silhouette test for occlusion; absent for things that never hide anyone. */
  contains?: (x: number, y: number) => boolean;
  /** Image bounding box of what `contains` covers (x1, y1, x2, y2), to skip far-away tests. */
  bbox?: [number, number, number, number];
  /** Labelled objects (parked carts) also appear in the ground truth. */
  labelled?: { label: 'cart'; trackId: number; figure: Figure };
}

export interface ZoneSpec {
  id: string;
  kind: 'area' | 'shelf' | 'queue' | 'counter' | 'door';
  /** Floor polygon (x, z) in metres. */
  floor: FloorPt[];
}

export interface LineSpec {
  id: string;
  a: FloorPt;
  b: FloorPt;
  /** A floor point on the "in" side of the line. */
  inside: FloorPt;
}

export interface SceneInstance {
  zones: ZoneSpec[];
  lines: LineSpec[];
  /** SVG drawn once, behind everything. */
  background(): string;
  /** Items drawn each frame, depth-sorted with the people. */
  statics(): StaticItem[];
  /** Arrivals, queues and other scene logic; called every simulation step. */
  update(world: World, dt: number): void;
  /** Seconds simulated before the first frame so the store is already busy. */
  prewarmSeconds: number;
}

export interface SceneDefinition {
  name: SceneName;
  describe: string;
  camera(rng: Rng): CameraSpec;
  create(ctx: SceneContext, world: World): SceneInstance;
}

/** Poisson arrivals whose rate can vary over time (times `crowd`: 0 means none). */
export class Arrivals {
  private next: number;
  constructor(
    private readonly rng: Rng,
    private readonly meanInterval: (t: number) => number,
    start = 0,
    private readonly crowd = 1,
  ) {
    this.next = start + this.wait(start);
  }
  private wait(t: number): number {
    return this.crowd > 0 ? this.rng.exp(this.meanInterval(t) / this.crowd) : Number.POSITIVE_INFINITY;
  }
  /** Calls `spawn` once for each arrival due by time `t`. */
  due(t: number, spawn: () => void): void {
    while (this.next <= t) {
      spawn();
      this.next += this.wait(this.next);
    }
  }
}
