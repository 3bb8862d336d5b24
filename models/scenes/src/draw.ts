/** SVG helpers that draw store furniture in perspective through a scene's camera. */
import type { Camera, Pt, Vec3 } from './camera.ts';
import { pointInPolygon } from './figure.ts';

const f1 = (n: number) => (Math.round(n * 10) / 10).toString();

export function pathOf(pts: readonly Pt[]): string {
  return `M${pts.map((p) => `${f1(p[0])} ${f1(p[1])}`).join('L')}Z`;
}

export function polygon3d(cam: Camera, pts: readonly Vec3[], fill: string, extra = ''): string {
  return `<path d="${pathOf(pts.map((p) => cam.project(p)))}" fill="${fill}"${extra}/>`;
}

/** Multiplies a `#rrggbb` colour by `k` (shading). */
export function shade(hex: string, k: number): string {
  const n = Number.parseInt(hex.slice(1), 16);
  const c = (v: number) =>
    Math.max(0, Math.min(255, Math.round(v * k)))
      .toString(16)
      .padStart(2, '0');
  return `#${c((n >> 16) & 255)}${c((n >> 8) & 255)}${c(n & 255)}`;
}

export function convexHull(points: Pt[]): Pt[] {
  const pts = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length < 3) return pts;
  const cross = (o: Pt, a: Pt, b: Pt) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: Pt[] = [];
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2] as Pt, lower[lower.length - 1] as Pt, p) <= 0)
      lower.pop();
    lower.push(p);
  }
  const upper: Pt[] = [];
  for (let i = pts.length - 1; i >= 0; i--) {
    const p = pts[i] as Pt;
    while (upper.length >= 2 && cross(upper[upper.length - 2] as Pt, upper[upper.length - 1] as Pt, p) <= 0)
      upper.pop();
    upper.push(p);
  }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}

export interface Box3d {
  svg: string;
  hull: Pt[];
  bbox: [number, number, number, number];
  contains: (x: number, y: number) => boolean;
}

/** An axis-aligned box (counter, shelf unit, pedestal) with the faces the camera sees. */
export function box3d(
  cam: Camera,
  [x0, x1]: [number, number],
  [y0, y1]: [number, number],
  [z0, z1]: [number, number],
  color: string,
  extra = '',
): Box3d {
  const c = cam.spec;
  const faces: string[] = [];
  const face = (pts: Vec3[], k: number) => faces.push(polygon3d(cam, pts, shade(color, k), extra));
  if (c.z < z0)
    face(
      [
        [x0, y0, z0],
        [x1, y0, z0],
        [x1, y1, z0],
        [x0, y1, z0],
      ],
      0.85,
    );
  if (c.x < x0)
    face(
      [
        [x0, y0, z0],
        [x0, y0, z1],
        [x0, y1, z1],
        [x0, y1, z0],
      ],
      0.7,
    );
  if (c.x > x1)
    face(
      [
        [x1, y0, z0],
        [x1, y0, z1],
        [x1, y1, z1],
        [x1, y1, z0],
      ],
      0.7,
    );
  if (c.height > y1)
    face(
      [
        [x0, y1, z0],
        [x1, y1, z0],
        [x1, y1, z1],
        [x0, y1, z1],
      ],
      1.05,
    );
  const corners: Pt[] = [];
  for (const x of [x0, x1])
    for (const y of [y0, y1]) for (const z of [z0, z1]) corners.push(cam.project([x, y, z]));
  const hull = convexHull(corners);
  return { svg: faces.join(''), hull, bbox: bboxOf(hull), contains: (x, y) => pointInPolygon(x, y, hull) };
}

/** A tiled floor between two depths. */
export function tiledFloor(
  cam: Camera,
  [x0, x1]: [number, number],
  [z0, z1]: [number, number],
  color: string,
  tile: number,
  lineColor: string,
): string {
  const parts = [
    polygon3d(
      cam,
      [
        [x0, 0, z0],
        [x1, 0, z0],
        [x1, 0, z1],
        [x0, 0, z1],
      ],
      color,
    ),
  ];
  const lw = Math.max(0.6, cam.width / 1400);
  const line = (a: Vec3, b: Vec3) => {
    const p = cam.project(a);
    const q = cam.project(b);
    return `M${f1(p[0])} ${f1(p[1])}L${f1(q[0])} ${f1(q[1])}`;
  };
  let d = '';
  for (let x = Math.ceil(x0 / tile) * tile; x <= x1; x += tile) d += line([x, 0, z0], [x, 0, z1]);
  for (let z = Math.ceil(z0 / tile) * tile; z <= z1; z += tile) d += line([x0, 0, z], [x1, 0, z]);
  parts.push(`<path d="${d}" stroke="${lineColor}" stroke-width="${f1(lw)}" fill="none"/>`);
  return parts.join('');
}

/** Rows of products on the vertical face of a shelf at x = `x` facing the aisle. */
export function shelfFace(
  cam: Camera,
  x: number,
  [z0, z1]: [number, number],
  height: number,
  rngColor: () => string,
  facing: number,
): string {
  const parts: string[] = [
    polygon3d(
      cam,
      [
        [x, 0, z0],
        [x, 0, z1],
        [x, height, z1],
        [x, height, z0],
      ],
      '#6b6f76',
    ),
  ];
  const levels = [0.1, 0.5, 0.9, 1.3, 1.7];
  for (const y of levels) {
    let z = z0 + 0.02;
    while (z < z1 - 0.1) {
      const w = 0.12 + (Number.parseInt(rngColor().slice(1, 3), 16) / 255) * 0.25;
      const h = 0.18 + (Number.parseInt(rngColor().slice(3, 5), 16) / 255) * 0.17;
      const zEnd = Math.min(z1 - 0.02, z + w);
      parts.push(
        polygon3d(
          cam,
          [
            [x - facing * 0.01, y + 0.02, z],
            [x - facing * 0.01, y + 0.02, zEnd],
            [x - facing * 0.01, y + h, zEnd],
            [x - facing * 0.01, y + h, z],
          ],
          rngColor(),
        ),
      );
      z = zEnd + 0.015;
    }
    parts.push(
      polygon3d(
        cam,
        [
          [x - facing * 0.02, y - 0.02, z0],
          [x - facing * 0.02, y - 0.02, z1],
          [x - facing * 0.02, y + 0.02, z1],
          [x - facing * 0.02, y + 0.02, z0],
        ],
        '#c9ccd1',
      ),
    );
  }
  return parts.join('');
}

export function bboxOf(pts: readonly Pt[]): [number, number, number, number] {
  let x1 = Number.POSITIVE_INFINITY;
  let y1 = Number.POSITIVE_INFINITY;
  let x2 = Number.NEGATIVE_INFINITY;
  let y2 = Number.NEGATIVE_INFINITY;
  for (const [x, y] of pts) {
    x1 = Math.min(x1, x);
    y1 = Math.min(y1, y);
    x2 = Math.max(x2, x);
    y2 = Math.max(y2, y);
  }
  return [x1, y1, x2, y2];
}
