import highsModule, { type Highs } from 'highs';
import {
  buildCalibration,
  ineligibility,
  isGpuNode,
  type PlanInput,
  pipelineValue,
  throughputOf,
} from './planner.ts';

/**
 * The exact optimum of the planner's objective (see planner.ts) by mixed-integer programming with
 * HiGHS (the `highs` npm package, HiGHS compiled to WebAssembly). For small instances only: the
 * benchmark measures the heuristic's optimality gap against it. Stability (moves) is not part of
 * the objective, so the comparison is with a plan made from scratch.
 *
 *   x[p,n] ∈ {0,1}  pipeline p runs on node n          y[m,n] ∈ {0,1}  model m is loaded on n
 *   f[p,n] ≥ 0      its fps there
 *   max  Σ (W(p) + bonus(p,n)) x[p,n] + f[p,n] / fps(p)
 *   s.t. Σ_n x[p,n] ≤ 1;  minFps(p) x[p,n] ≤ f[p,n] ≤ fps(p) x[p,n];  x[p,n] ≤ y[m(p),n]
 *        Σ_p f[p,n] / throughput(m(p),n) ≤ 1 − headroom;  Σ_m mem(m) y[m,n] ≤ memory(n) (1 − headroom)
 */
export interface ExactResult {
  objective: number;
  status: string;
  placed: number;
}

// highs ships an ES module with a default export, but its types are read as CommonJS under
// NodeNext: take the loader from whichever shape the runtime hands us.
const highsLoader = ((highsModule as unknown as { default?: unknown }).default ??
  highsModule) as () => Promise<Highs>;
let solver: Promise<Highs> | undefined;

export async function solveExact(input: PlanInput): Promise<ExactResult> {
  solver ??= highsLoader();
  const highs = await solver;
  const calibration = input.calibration ?? buildCalibration(input.nodes);
  const nodes = input.nodes.filter((n) => n.ready);
  const objective: string[] = [];
  const rows: string[] = [];
  const binaries: string[] = [];
  const bounds: string[] = [];
  const capTerms = new Map<string, string[]>();
  const memTerms = new Map<string, Map<string, number>>();
  input.pipelines.forEach((p, i) => {
    const req = input.requirements(p.model);
    const assign: string[] = [];
    nodes.forEach((n, j) => {
      if (n.nodePool !== p.nodePool || ineligibility(n, p.model, req, input.headroom)) return;
      const x = `x_${i}_${j}`;
      const f = `f_${i}_${j}`;
      const y = `y_${p.model.replace(/[^A-Za-z0-9]/g, '_')}_${j}`;
      const w = pipelineValue(p, req, 0, isGpuNode(n));
      objective.push(`+ ${w} ${x}`, `+ ${1 / p.fps} ${f}`);
      binaries.push(x);
      assign.push(x);
      rows.push(`${f} - ${p.fps} ${x} <= 0`, `${f} - ${p.minFps} ${x} >= 0`, `${x} - ${y} <= 0`);
      bounds.push(`0 <= ${f} <= ${p.fps}`);
      const t = throughputOf(n, p.model, req, calibration).fps;
      const cap = capTerms.get(n.nodeId) ?? [];
      cap.push(`+ ${1 / t} ${f}`);
      capTerms.set(n.nodeId, cap);
      const mem = memTerms.get(n.nodeId) ?? new Map<string, number>();
      mem.set(y, req.memoryBytes / 2 ** 20);
      memTerms.set(n.nodeId, mem);
    });
    if (assign.length) rows.push(`${assign.join(' + ')} <= 1`);
  });
  if (binaries.length === 0) return { objective: 0, status: 'Optimal', placed: 0 };
  for (const terms of capTerms.values()) rows.push(`${terms.join(' ')} <= ${1 - input.headroom}`);
  const ys = new Set<string>();
  for (const [nodeId, mem] of memTerms) {
    const n = nodes.find((x) => x.nodeId === nodeId)!;
    const terms = [...mem].map(([y, mib]) => {
      ys.add(y);
      return `+ ${mib} ${y}`;
    });
    rows.push(`${terms.join(' ')} <= ${(n.memoryBytes * (1 - input.headroom)) / 2 ** 20}`);
  }
  const lp = [
    'Maximize',
    ` obj: ${objective.join(' ')}`,
    'Subject To',
    ...rows.map((r, k) => ` c${k}: ${r}`),
    'Bounds',
    ...bounds.map((b) => ` ${b}`),
    'Binary',
    ` ${[...binaries, ...ys].join(' ')}`,
    'End',
  ].join('\n');
  const out = highs.solve(lp, { mip_rel_gap: 1e-7, output_flag: false });
  let placed = 0;
  for (const [name, col] of Object.entries(out.Columns))
    if (name.startsWith('x_') && (col as { Primal?: number }).Primal! > 0.5) placed++;
  return { objective: out.ObjectiveValue, status: out.Status, placed };
}
