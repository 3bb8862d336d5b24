/**
 * Model quality and speed on rendered store scenes: per-class AP@0.5, precision and recall at the
 * manifest's thresholds against exact ground truth, on held-out seeds; and single-frame latency
 * with a fixed number of onnxruntime threads.
 */
import type { SceneName } from '@storevision/contracts';
import { createDetectorFromPackage, DetectionEvaluator, type EvaluationResult } from '@storevision/detector';
import { SequenceRenderer } from '@storevision/scenes';

export interface ModelBenchOptions {
  modelDir: string;
  scenes: SceneName[];
  seeds: number[];
  /** Frames per seed. @defaultValue 20 */
  frames?: number;
  /** Frame rate of the rendered sequences (frames are 1/fps seconds apart). @defaultValue 2 */
  fps?: number;
  /** onnxruntime intra-op threads for the latency figure. @defaultValue 1 */
  threads?: number;
  /** Timed runs for the latency figure. @defaultValue 50 */
  latencyRuns?: number;
  onFrame?: (done: number, total: number) => void;
}

export interface SceneQuality {
  scene: SceneName;
  seeds: number[];
  frames: number;
  resolutions: string[];
  evaluation: EvaluationResult;
}

export interface LatencyFigures {
  threads: number;
  runs: number;
  inferMsP50: number;
  inferMsP90: number;
  /** decode + letterbox + inference + NMS for a 1280×720 JPEG. */
  pipelineMsP50: number;
}

export interface ModelBenchResult {
  model: { name: string; version: string; input: string };
  /** What was rendered: the same seeds, frames and fps give the same frames on any machine. */
  framesPerSeed: number;
  fps: number;
  confidence: number;
  iou: number;
  scenes: SceneQuality[];
  latency: LatencyFigures;
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};

export async function runModelBench(o: ModelBenchOptions): Promise<ModelBenchResult> {
  const frames = o.frames ?? 20;
  const fps = o.fps ?? 2;
  // Quality: the evaluator needs the whole precision–recall curve, so detections are kept down
  // to a very low score; precision and recall are reported at the manifest's threshold.
  const detector = await createDetectorFromPackage(o.modelDir, { session: { intraOpNumThreads: 2 } });
  const m = detector.manifest;
  const total = o.scenes.length * o.seeds.length * frames;
  let done = 0;
  const scenes: SceneQuality[] = [];
  try {
    for (const scene of o.scenes) {
      const evaluator = new DetectionEvaluator({ scoreThreshold: m.thresholds.confidence, labels: m.labels });
      const resolutions = new Set<string>();
      for (const seed of o.seeds) {
        const r = new SequenceRenderer({ scene, seed, frames, fps });
        resolutions.add(`${r.conditions.width}x${r.conditions.height}`);
        for await (const f of r.frames()) {
          const { detections } = await detector.detect(f.jpeg, { confidence: 0.001 });
          evaluator.add(detections, f.truth.objects);
          o.onFrame?.(++done, total);
        }
      }
      scenes.push({
        scene,
        seeds: o.seeds,
        frames: o.seeds.length * frames,
        resolutions: [...resolutions],
        evaluation: evaluator.result(),
      });
    }
  } finally {
    await detector.release();
  }
  return {
    model: { name: m.name, version: m.version, input: m.input.shape.join('x') },
    framesPerSeed: frames,
    fps,
    confidence: m.thresholds.confidence,
    iou: m.thresholds.iou,
    scenes,
    latency: await measureLatency(o.modelDir, o.threads ?? 1, o.latencyRuns ?? 50),
  };
}

/** Latency of one frame with `threads` onnxruntime threads, on a 1280×720 entrance frame. */
export async function measureLatency(
  modelDir: string,
  threads: number,
  runs: number,
): Promise<LatencyFigures> {
  const detector = await createDetectorFromPackage(modelDir, {
    session: { intraOpNumThreads: threads, interOpNumThreads: 1 },
    warmupRuns: 5,
  });
  try {
    const frame = await new SequenceRenderer({
      scene: 'entrance',
      seed: 1,
      frames: 1,
      fps: 1,
      width: 1280,
      height: 720,
    }).frame(0);
    const infer: number[] = [];
    const pipeline: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const { timings } = await detector.detect(frame.jpeg);
      pipeline.push(performance.now() - t0);
      infer.push(timings.inferMs);
    }
    return {
      threads,
      runs,
      inferMsP50: quantile(infer, 0.5),
      inferMsP90: quantile(infer, 0.9),
      pipelineMsP50: quantile(pipeline, 0.5),
    };
  } finally {
    await detector.release();
  }
}

const fmt = (v: number | null | undefined, d = 3) => (v === null || v === undefined ? '—' : v.toFixed(d));

export function formatModelBench(r: ModelBenchResult): string {
  const rows = [
    [
      'scene',
      'frames',
      'person AP@0.5',
      'cart AP@0.5',
      `P@${r.confidence}`,
      `R@${r.confidence}`,
      'people',
      'ignored',
    ],
  ];
  for (const s of r.scenes) {
    const p = s.evaluation.perClass.person;
    const c = s.evaluation.perClass.cart;
    rows.push([
      s.scene,
      String(s.frames),
      fmt(p?.ap),
      fmt(c?.ap),
      fmt(p?.precision),
      fmt(p?.recall),
      String(p?.positives ?? 0),
      String(p?.ignoredObjects ?? 0),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const l = r.latency;
  lines.push(
    '',
    `model ${r.model.name}@${r.model.version}, input ${r.model.input}; seeds ${r.scenes[0]?.seeds[0]}..${r.scenes[0]?.seeds.at(-1)}`,
    `latency (${l.threads} thread${l.threads > 1 ? 's' : ''}, ${l.runs} runs): inference p50 ${l.inferMsP50.toFixed(2)} ms, p90 ${l.inferMsP90.toFixed(2)} ms; whole frame (1280x720 JPEG decode + letterbox + inference + NMS) p50 ${l.pipelineMsP50.toFixed(2)} ms`,
  );
  return lines.join('\n');
}
