/**
 * People and carts as drawable figures: the same geometry produces the SVG that is rendered and
 * the silhouette that ground truth is computed from, so boxes and visible fractions are exact for
 * what ends up in the picture.
 */
import { pointInPolygon } from '@storevision/contracts';
import type { Pt } from './camera.ts';
import type { Rng } from './rng.ts';

export interface Appearance {
  heightM: number;
  build: number;
  skin: string;
  hair: string;
  hairStyle: 'short' | 'long' | 'bald' | 'cap';
  capColor: string;
  top: string;
  longSleeves: boolean;
  bottom: string;
  skirt: boolean;
  shoes: string;
  carry: 'none' | 'basket' | 'bag';
  carryColor: string;
}

const SKIN = ['#f1c9a5', '#e0ac69', '#c68642', '#8d5524', '#5c3a1e', '#ffdbac', '#d1a27a'];
const HAIR = ['#1b1b1b', '#3b2414', '#6a4e31', '#a67b50', '#d9c27a', '#8c8c8c', '#b5502b'];
const BOTTOMS = ['#1f3a5f', '#2b2b2b', '#4a5a6a', '#c2b280', '#5a4632', '#6e6e6e', '#24466b', '#7a2e2e'];
const SHOES = ['#111111', '#3a3a3a', '#eeeeee', '#5b3b24'];

function hsl(h: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    const c = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(255 * c)
      .toString(16)
      .padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

export function randomColor(rng: Rng): string {
  // Store clothing: many muted colours, some saturated ones, black, white and greys.
  const r = rng.next();
  if (r < 0.15) return hsl(0, 0, rng.uniform(0.08, 0.2));
  if (r < 0.25) return hsl(0, 0, rng.uniform(0.75, 0.95));
  if (r < 0.35) return hsl(0, 0, rng.uniform(0.35, 0.6));
  return hsl(rng.uniform(0, 360), rng.uniform(0.25, 0.85), rng.uniform(0.25, 0.7));
}

export function randomAppearance(rng: Rng): Appearance {
  const child = rng.chance(0.08);
  return {
    heightM: child ? rng.uniform(1.05, 1.4) : Math.min(1.98, Math.max(1.5, rng.normal(1.71, 0.09))),
    build: rng.uniform(0.85, 1.2),
    skin: rng.pick(SKIN),
    hair: rng.pick(HAIR),
    hairStyle: rng.pick(['short', 'short', 'long', 'long', 'bald', 'cap'] as const),
    capColor: randomColor(rng),
    top: randomColor(rng),
    longSleeves: rng.chance(0.55),
    bottom: rng.pick(BOTTOMS),
    skirt: rng.chance(0.12),
    shoes: rng.pick(SHOES),
    carry: child ? 'none' : rng.pick(['none', 'none', 'basket', 'bag'] as const),
    carryColor: rng.pick(['#c0392b', '#2e86c1', '#27ae60', '#f1c40f', '#7f8c8d', '#d35400']),
  };
}

/** Pose at one instant: where the person stands in the image and how the limbs are placed. */
export interface Pose {
  /** Feet (bottom-centre) in image pixels. */
  feet: Pt;
  /** Image vector per metre of body height, pointing up the body. */
  up: Pt;
  /** Image vector per metre to the person's right (perpendicular to `up`). */
  right: Pt;
  /** 0..1, how much the person is seen from the side (limb swing shows), vs from front/back. */
  sideways: number;
  /** True when the camera sees the face. */
  facingCamera: boolean;
  /** Walking phase in radians; `stride` 0 when standing. */
  phase: number;
  stride: number;
  /** -1 when moving to image-left, +1 to image-right. */
  dir: number;
  /** Raises one arm to a shelf when browsing. */
  reach: number;
}

const f2 = (n: number) => (Math.round(n * 1000) / 1000).toString();

type Prim =
  | { k: 'ellipse'; cx: number; cy: number; rx: number; ry: number }
  | { k: 'capsule'; ax: number; ay: number; bx: number; by: number; r: number }
  | { k: 'poly'; pts: Pt[] };

/** A figure in local body coordinates (metres, y up) placed by an affine map into the image. */
export class Figure {
  readonly prims: Prim[] = [];
  private svgParts: string[] = [];
  private readonly inv: [number, number, number, number];

  constructor(
    readonly origin: Pt,
    readonly right: Pt,
    readonly up: Pt,
  ) {
    const det = right[0] * up[1] - up[0] * right[1];
    this.inv = [up[1] / det, -up[0] / det, -right[1] / det, right[0] / det];
  }

  toImage(lx: number, ly: number): Pt {
    return [
      this.origin[0] + this.right[0] * lx + this.up[0] * ly,
      this.origin[1] + this.right[1] * lx + this.up[1] * ly,
    ];
  }

  /** Draws and (when `solid`) adds to the silhouette. */
  ellipse(cx: number, cy: number, rx: number, ry: number, fill: string, solid = true): void {
    this.svgParts.push(
      `<ellipse cx="${f2(cx)}" cy="${f2(cy)}" rx="${f2(rx)}" ry="${f2(ry)}" fill="${fill}"/>`,
    );
    if (solid) this.prims.push({ k: 'ellipse', cx, cy, rx, ry });
  }

  limb(ax: number, ay: number, bx: number, by: number, width: number, color: string, solid = true): void {
    this.svgParts.push(
      `<path d="M${f2(ax)} ${f2(ay)}L${f2(bx)} ${f2(by)}" stroke="${color}" stroke-width="${f2(width)}" stroke-linecap="round" fill="none"/>`,
    );
    if (solid) this.prims.push({ k: 'capsule', ax, ay, bx, by, r: width / 2 });
  }

  poly(pts: Pt[], fill: string, solid = true, extra = ''): void {
    this.svgParts.push(
      `<path d="M${pts.map((p) => `${f2(p[0])} ${f2(p[1])}`).join('L')}Z" fill="${fill}"${extra}/>`,
    );
    if (solid) this.prims.push({ k: 'poly', pts });
  }

  raw(svg: string): void {
    this.svgParts.push(svg);
  }

  svg(blur?: Pt, filterId?: string): string {
    const [r0, r1] = this.right;
    const [u0, u1] = this.up;
    const g = `<g transform="matrix(${f2(r0)} ${f2(r1)} ${f2(u0)} ${f2(u1)} ${f2(this.origin[0])} ${f2(this.origin[1])})">${this.svgParts.join('')}</g>`;
    if (!blur || !filterId || (blur[0] < 0.35 && blur[1] < 0.35)) return g;
    return `<filter id="${filterId}" x="-20%" y="-20%" width="140%" height="140%"><feGaussianBlur stdDeviation="${f2(blur[0])} ${f2(blur[1])}"/></filter><g filter="url(#${filterId})">${g}</g>`;
  }

  /** Whether an image point is inside the silhouette. */
  contains(x: number, y: number): boolean {
    const dx = x - this.origin[0];
    const dy = y - this.origin[1];
    const lx = this.inv[0] * dx + this.inv[2] * dy;
    const ly = this.inv[1] * dx + this.inv[3] * dy;
    for (const p of this.prims) {
      if (p.k === 'ellipse') {
        const ex = (lx - p.cx) / p.rx;
        const ey = (ly - p.cy) / p.ry;
        if (ex * ex + ey * ey <= 1) return true;
      } else if (p.k === 'capsule') {
        const vx = p.bx - p.ax;
        const vy = p.by - p.ay;
        const len2 = vx * vx + vy * vy || 1e-9;
        const t = Math.max(0, Math.min(1, ((lx - p.ax) * vx + (ly - p.ay) * vy) / len2));
        const qx = p.ax + t * vx - lx;
        const qy = p.ay + t * vy - ly;
        if (qx * qx + qy * qy <= p.r * p.r) return true;
      } else if (pointInPolygon(lx, ly, p.pts)) return true;
    }
    return false;
  }

  private cachedBounds?: [number, number, number, number];

  /** Image-space bounding box of the silhouette. */
  bounds(): [number, number, number, number] {
    this.cachedBounds ??= this.computeBounds();
    return this.cachedBounds;
  }

  private computeBounds(): [number, number, number, number] {
    let x1 = Number.POSITIVE_INFINITY;
    let y1 = Number.POSITIVE_INFINITY;
    let x2 = Number.NEGATIVE_INFINITY;
    let y2 = Number.NEGATIVE_INFINITY;
    const add = (lx: number, ly: number) => {
      const [x, y] = this.toImage(lx, ly);
      if (x < x1) x1 = x;
      if (x > x2) x2 = x;
      if (y < y1) y1 = y;
      if (y > y2) y2 = y;
    };
    for (const p of this.prims) {
      if (p.k === 'ellipse') {
        for (let i = 0; i < 16; i++) {
          const a = (i / 16) * Math.PI * 2;
          add(p.cx + p.rx * Math.cos(a), p.cy + p.ry * Math.sin(a));
        }
      } else if (p.k === 'capsule') {
        for (let i = 0; i < 8; i++) {
          const a = (i / 8) * Math.PI * 2;
          add(p.ax + p.r * Math.cos(a), p.ay + p.r * Math.sin(a));
          add(p.bx + p.r * Math.cos(a), p.by + p.r * Math.sin(a));
        }
      } else for (const q of p.pts) add(q[0], q[1]);
    }
    return [x1, y1, x2, y2];
  }
}

/** The ground truth's zones use the same test as the edge's analytics: one implementation, in contracts. */
export { pointInPolygon };

/** Builds a person's figure for one pose. */
export function personFigure(a: Appearance, pose: Pose): Figure {
  const fig = new Figure(pose.feet, pose.right, pose.up);
  const h = a.heightM;
  const hs = h / 1.72;
  const b = a.build;
  const side = pose.sideways;
  const swing = Math.sin(pose.phase) * pose.stride;
  const hipY = 0.52 * h;
  const shoulderY = 0.815 * h;
  const hipHalf = 0.095 * b * hs;
  const shoulderHalf = (0.19 + 0.02 * (1 - side)) * b * hs;
  const legW = 0.125 * b * hs;
  const armW = 0.075 * b * hs;
  const dir = pose.dir;

  // Legs: side view swings the feet forward/back; front view lifts them a little.
  const footL: Pt = [
    -hipHalf * (1 - side) + dir * swing * 0.32 * side * h,
    Math.max(0, -swing) * 0.05 * (1 - side),
  ];
  const footR: Pt = [
    hipHalf * (1 - side) - dir * swing * 0.32 * side * h,
    Math.max(0, swing) * 0.05 * (1 - side),
  ];
  const backArmSign = -1;
  const armSwing = swing * 0.22 * h * side;
  const shL: Pt = [-shoulderHalf * (1 - 0.55 * side), shoulderY - 0.03];
  const shR: Pt = [shoulderHalf * (1 - 0.55 * side), shoulderY - 0.03];
  const handY = hipY - 0.06 * h;
  const handL: Pt = [shL[0] - 0.03 - dir * armSwing, handY];
  const handR: Pt = [shR[0] + 0.03 + dir * armSwing, handY];
  if (pose.reach > 0) {
    // Browsing: one arm reaches towards the shelf.
    handR[0] = shR[0] + dir * 0.3 * pose.reach;
    handR[1] = shoulderY + 0.05 * pose.reach;
  }
  const sleeve = a.longSleeves ? a.top : a.skin;
  const elbow = (s: Pt, hd: Pt): Pt => [(s[0] + hd[0]) / 2, (s[1] + hd[1]) / 2];
  const drawArm = (s: Pt, hd: Pt) => {
    const e = elbow(s, hd);
    fig.limb(s[0], s[1], e[0], e[1], armW * 1.1, a.top);
    fig.limb(e[0], e[1], hd[0], hd[1], armW, sleeve);
    fig.ellipse(hd[0], hd[1] - 0.02, armW * 0.6, armW * 0.7, a.skin);
  };

  // Long hair sits behind the body.
  const headCy = h - 0.118 * hs;
  const headRx = 0.08 * hs;
  const headRy = 0.112 * hs;
  if (a.hairStyle === 'long') {
    fig.poly(
      [
        [-headRx * 1.15, headCy],
        [headRx * 1.15, headCy],
        [headRx * 1.2, shoulderY - 0.1 * hs],
        [-headRx * 1.2, shoulderY - 0.1 * hs],
      ],
      a.hair,
    );
  }
  // The arm on the far side is drawn first so the torso hides part of it.
  drawArm(backArmSign < 0 ? shL : shR, backArmSign < 0 ? handL : handR);
  if (a.skirt) {
    fig.limb(footL[0] * 0.8, hipY * 0.45, footL[0], 0.04, legW * 0.8, a.skin);
    fig.limb(footR[0] * 0.8, hipY * 0.45, footR[0], 0.04, legW * 0.8, a.skin);
    fig.poly(
      [
        [-hipHalf * 1.3, hipY + 0.04],
        [hipHalf * 1.3, hipY + 0.04],
        [hipHalf * 2.3, hipY * 0.42],
        [-hipHalf * 2.3, hipY * 0.42],
      ],
      a.bottom,
    );
  } else {
    fig.limb(-hipHalf * 0.6, hipY, footL[0], footL[1] + 0.05, legW, a.bottom);
    fig.limb(hipHalf * 0.6, hipY, footR[0], footR[1] + 0.05, legW, a.bottom);
  }
  fig.ellipse(footL[0] + dir * 0.04 * side, footL[1] + 0.03, 0.07 * hs, 0.035, a.shoes);
  fig.ellipse(footR[0] + dir * 0.04 * side, footR[1] + 0.03, 0.07 * hs, 0.035, a.shoes);
  // Torso, with a slightly darker belt line.
  fig.poly(
    [
      [-shoulderHalf, shoulderY],
      [shoulderHalf, shoulderY],
      [hipHalf * 1.25, hipY],
      [-hipHalf * 1.25, hipY],
    ],
    a.top,
  );
  fig.ellipse(0, shoulderY, shoulderHalf, 0.045 * hs, a.top);
  fig.limb(-hipHalf * 1.2, hipY + 0.015, hipHalf * 1.2, hipY + 0.015, 0.035, a.bottom);
  // Neck and head.
  fig.limb(0, shoulderY, 0, headCy - headRy * 0.6, 0.07 * hs, a.skin);
  if (pose.facingCamera || a.hairStyle === 'bald') {
    if (a.hairStyle !== 'bald' && a.hairStyle !== 'cap')
      fig.ellipse(0, headCy + headRy * 0.15, headRx * 1.08, headRy * 0.95, a.hair);
    fig.ellipse(0, headCy, headRx, headRy, a.skin);
    if (pose.facingCamera && side < 0.7) {
      // A hint of eyes and mouth.
      fig.raw(
        `<ellipse cx="${f2(-headRx * 0.35)}" cy="${f2(headCy + headRy * 0.15)}" rx="${f2(headRx * 0.12)}" ry="${f2(headRy * 0.07)}" fill="#2a1d14"/><ellipse cx="${f2(headRx * 0.35)}" cy="${f2(headCy + headRy * 0.15)}" rx="${f2(headRx * 0.12)}" ry="${f2(headRy * 0.07)}" fill="#2a1d14"/><ellipse cx="0" cy="${f2(headCy - headRy * 0.45)}" rx="${f2(headRx * 0.3)}" ry="${f2(headRy * 0.06)}" fill="#8a4a3a"/>`,
      );
    }
  } else {
    fig.ellipse(0, headCy, headRx, headRy, a.skin);
    if (a.hairStyle !== 'cap') fig.ellipse(0, headCy + headRy * 0.1, headRx * 1.04, headRy * 0.98, a.hair);
  }
  if (a.hairStyle === 'cap') {
    fig.ellipse(0, headCy + headRy * 0.45, headRx * 1.1, headRy * 0.6, a.capColor);
    fig.ellipse(dir * headRx * 0.8 * side, headCy + headRy * 0.35, headRx * 0.7, headRy * 0.15, a.capColor);
  }
  // The near arm.
  drawArm(backArmSign < 0 ? shR : shL, backArmSign < 0 ? handR : handL);
  if (a.carry === 'basket') {
    const hx = handR[0];
    const hy = handR[1];
    fig.raw(
      `<path d="M${f2(hx - 0.12)} ${f2(hy - 0.05)}Q${f2(hx)} ${f2(hy + 0.12)} ${f2(hx + 0.12)} ${f2(hy - 0.05)}" stroke="${a.carryColor}" stroke-width="0.025" fill="none"/>`,
    );
    fig.poly(
      [
        [hx - 0.2, hy - 0.06],
        [hx + 0.2, hy - 0.06],
        [hx + 0.16, hy - 0.26],
        [hx - 0.16, hy - 0.26],
      ],
      a.carryColor,
    );
  } else if (a.carry === 'bag') {
    fig.poly(
      [
        [handL[0] - 0.1, handL[1] - 0.03],
        [handL[0] + 0.1, handL[1] - 0.03],
        [handL[0] + 0.12, handL[1] - 0.33],
        [handL[0] - 0.12, handL[1] - 0.33],
      ],
      a.carryColor,
    );
  }
  return fig;
}

/** A shopping cart seen from the side or the back, drawn on the floor at `origin`. */
export function cartFigure(origin: Pt, right: Pt, up: Pt, sideways: number, color: string): Figure {
  const fig = new Figure(origin, right, up);
  const len = 0.45 + 0.45 * sideways;
  const half = len / 2;
  const wheel = '#222222';
  fig.ellipse(-half + 0.06, 0.05, 0.05, 0.05, wheel);
  fig.ellipse(half - 0.06, 0.05, 0.05, 0.05, wheel);
  fig.limb(-half + 0.06, 0.1, half - 0.06, 0.1, 0.03, '#8a8a8a');
  fig.limb(-half + 0.1, 0.1, -half + 0.05, 0.5, 0.03, '#8a8a8a');
  fig.limb(half - 0.1, 0.1, half - 0.02, 0.5, 0.03, '#8a8a8a');
  const basket: Pt[] = [
    [-half, 0.5],
    [half + 0.05, 0.5],
    [half + 0.1, 0.95],
    [-half - 0.05, 0.95],
  ];
  fig.poly(basket, color, true, ' fill-opacity="0.55" stroke="#6d6d6d" stroke-width="0.02"');
  for (let i = 1; i < 6; i++) {
    const x = -half + (i / 6) * (len + 0.05);
    fig.limb(x, 0.5, x + 0.02, 0.95, 0.012, '#5d5d5d', false);
  }
  fig.limb(-half - 0.05, 0.72, half + 0.08, 0.72, 0.012, '#5d5d5d', false);
  fig.limb(half + 0.1, 0.95, half + 0.2, 1.02, 0.035, '#333333');
  return fig;
}
