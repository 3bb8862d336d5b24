/**
 * Plane geometry on normalised image points, shared by the analytics config's validation (here)
 * and the analytics engine that tests people's anchors against zones and lines.
 */

export type Point = readonly [number, number];

/** Twice the signed area of the triangle a-b-c: > 0 when c is left of a→b (y down: clockwise on screen). */
export function orient(a: Point, b: Point, c: Point): number {
  return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
}

/** Ray casting; points exactly on an edge may fall either way. */
export function pointInPolygon(x: number, y: number, pts: readonly Point[]): boolean {
  let inside = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i]!;
    const [xj, yj] = pts[j]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Absolute area (shoelace). */
export function polygonArea(pts: readonly Point[]): number {
  let s = 0;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++)
    s += pts[j]![0] * pts[i]![1] - pts[i]![0] * pts[j]![1];
  return Math.abs(s) / 2;
}

/** Whether segments p–q and a–b properly intersect or touch. */
export function segmentsTouch(p: Point, q: Point, a: Point, b: Point): boolean {
  const o1 = Math.sign(orient(p, q, a));
  const o2 = Math.sign(orient(p, q, b));
  const o3 = Math.sign(orient(a, b, p));
  const o4 = Math.sign(orient(a, b, q));
  if (o1 !== o2 && o3 !== o4) return true;
  const on = (u: Point, v: Point, w: Point) =>
    Math.min(u[0], v[0]) <= w[0] &&
    w[0] <= Math.max(u[0], v[0]) &&
    Math.min(u[1], v[1]) <= w[1] &&
    w[1] <= Math.max(u[1], v[1]);
  return (
    (o1 === 0 && on(p, q, a)) ||
    (o2 === 0 && on(p, q, b)) ||
    (o3 === 0 && on(a, b, p)) ||
    (o4 === 0 && on(a, b, q))
  );
}

/**
 * The first pair of non-adjacent edges that touch, as edge indices, or undefined for a simple
 * polygon. O(n²), for the few dozen vertices a zone has.
 */
export function polygonSelfIntersection(pts: readonly Point[]): [number, number] | undefined {
  const n = pts.length;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (j === i + 1 || (i === 0 && j === n - 1)) continue;
      if (segmentsTouch(pts[i]!, pts[(i + 1) % n]!, pts[j]!, pts[(j + 1) % n]!)) return [i, j];
    }
  }
  return undefined;
}
