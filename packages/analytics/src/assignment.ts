/**
 * Minimum-cost assignment (the Hungarian method, O(n²·m) with potentials) for the few dozen people a
 * camera sees: the role `lap.lapjv` plays in ByteTrack.
 */

/** For each row of an n×m cost matrix (n ≤ m), the column it is assigned to. */
function hungarian(cost: readonly (readonly number[])[], n: number, m: number): number[] {
  const INF = Number.POSITIVE_INFINITY;
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1);
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(INF);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = INF;
      let j1 = 0;
      const row = cost[i0 - 1]!;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = row[j - 1]! - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]!]! += delta;
          v[j]! -= delta;
        } else minv[j]! -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0);
  }
  const rowToCol = new Array<number>(n).fill(-1);
  for (let j = 1; j <= m; j++) if (p[j]! > 0) rowToCol[p[j]! - 1] = j - 1;
  return rowToCol;
}

export interface Assignment {
  matches: Array<[row: number, col: number]>;
  unmatchedRows: number[];
  unmatchedCols: number[];
}

/**
 * Pairs rows with columns at the least total cost, never through a pair costing more than
 * `maxCost`. Pairs over the limit are priced so high that the solver first maximises the number of
 * admissible pairs, then minimises their cost.
 */
export function linearAssignment(
  cost: readonly (readonly number[])[],
  cols: number,
  maxCost: number,
): Assignment {
  const rows = cost.length;
  const out: Assignment = { matches: [], unmatchedRows: [], unmatchedCols: [] };
  if (rows === 0 || cols === 0) {
    out.unmatchedRows = [...Array(rows).keys()];
    out.unmatchedCols = [...Array(cols).keys()];
    return out;
  }
  const BIG = 1e6;
  const transpose = rows > cols;
  const n = transpose ? cols : rows;
  const m = transpose ? rows : cols;
  const c: number[][] = [];
  for (let i = 0; i < n; i++) {
    const r = new Array<number>(m);
    for (let j = 0; j < m; j++) {
      const x = transpose ? cost[j]![i]! : cost[i]![j]!;
      r[j] = x > maxCost || Number.isNaN(x) ? BIG : x;
    }
    c.push(r);
  }
  const assigned = hungarian(c, n, m);
  const rowUsed = new Uint8Array(rows);
  const colUsed = new Uint8Array(cols);
  for (let i = 0; i < n; i++) {
    const j = assigned[i]!;
    if (j < 0 || c[i]![j]! >= BIG) continue;
    const [r, col] = transpose ? [j, i] : [i, j];
    out.matches.push([r, col]);
    rowUsed[r] = 1;
    colUsed[col] = 1;
  }
  for (let r = 0; r < rows; r++) if (!rowUsed[r]) out.unmatchedRows.push(r);
  for (let col = 0; col < cols; col++) if (!colUsed[col]) out.unmatchedCols.push(col);
  return out;
}
