/**
 * A pinhole camera looking down at the store floor. World: x to the right, y up, z away from the
 * camera along the floor (metres). The camera sits at (x, height, z) pitched down by `pitchDeg`.
 */
export interface CameraSpec {
  x: number;
  height: number;
  z: number;
  pitchDeg: number;
  /** Horizontal field of view. */
  hfovDeg: number;
}

export type Vec3 = readonly [number, number, number];
export type Pt = [number, number];

export class Camera {
  readonly focal: number;
  private readonly sin: number;
  private readonly cos: number;

  constructor(
    readonly spec: CameraSpec,
    readonly width: number,
    readonly height: number,
  ) {
    this.focal = width / 2 / Math.tan((spec.hfovDeg * Math.PI) / 360);
    const p = (spec.pitchDeg * Math.PI) / 180;
    this.sin = Math.sin(p);
    this.cos = Math.cos(p);
  }

  /** Depth of a world point along the optical axis (metres); ≤ 0 means behind the camera. */
  depth(p: Vec3): number {
    const dy = p[1] - this.spec.height;
    const dz = p[2] - this.spec.z;
    return -dy * this.sin + dz * this.cos;
  }

  project(p: Vec3): Pt {
    const dx = p[0] - this.spec.x;
    const dy = p[1] - this.spec.height;
    const dz = p[2] - this.spec.z;
    const zc = Math.max(1e-3, -dy * this.sin + dz * this.cos);
    const yc = dy * this.cos + dz * this.sin;
    return [this.width / 2 + (this.focal * dx) / zc, this.height / 2 - (this.focal * yc) / zc];
  }

  /** Pixels per metre at the depth of a world point (for sizes parallel to the image plane). */
  scaleAt(p: Vec3): number {
    return this.focal / Math.max(1e-3, this.depth(p));
  }

  /** Normalised image coordinates of a floor point (may lie outside 0–1). */
  floorToNorm(x: number, z: number): [number, number] {
    const [u, v] = this.project([x, 0, z]);
    return [u / this.width, v / this.height];
  }

  /** A floor polygon as a normalised image polygon, clipped to the frame. */
  floorPolygonToNorm(pts: readonly (readonly [number, number])[]): [number, number][] {
    return clipToUnit(pts.map(([x, z]) => this.floorToNorm(x, z))).map(([u, v]) => [round4(u), round4(v)]);
  }
}

const round4 = (n: number) => Math.round(Math.min(1, Math.max(0, n)) * 10000) / 10000;

/** Sutherland–Hodgman clipping of a polygon to the unit square. */
export function clipToUnit(poly: [number, number][]): [number, number][] {
  const edges: [
    (p: [number, number]) => boolean,
    (a: [number, number], b: [number, number]) => [number, number],
  ][] = [
    [(p) => p[0] >= 0, (a, b) => lerpAt(a, b, 0, 0)],
    [(p) => p[0] <= 1, (a, b) => lerpAt(a, b, 0, 1)],
    [(p) => p[1] >= 0, (a, b) => lerpAt(a, b, 1, 0)],
    [(p) => p[1] <= 1, (a, b) => lerpAt(a, b, 1, 1)],
  ];
  let out = poly;
  for (const [inside, cut] of edges) {
    const input = out;
    out = [];
    for (let i = 0; i < input.length; i++) {
      const cur = input[i] as [number, number];
      const prev = input[(i + input.length - 1) % input.length] as [number, number];
      if (inside(cur)) {
        if (!inside(prev)) out.push(cut(prev, cur));
        out.push(cur);
      } else if (inside(prev)) out.push(cut(prev, cur));
    }
  }
  return out;
}

function lerpAt(a: [number, number], b: [number, number], axis: 0 | 1, value: number): [number, number] {
  const t = (value - a[axis]) / (b[axis] - a[axis]);
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
}
