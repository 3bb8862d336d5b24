import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parsePositiveInt, parseScenes, parseSeeds } from '../args.ts';
import { formatModelBench, runModelBench } from '../bench/model-bench.ts';
import { progressBar } from '../progress.ts';

/** The model shipped in the repository. */
export const BUNDLED_MODEL_DIR = fileURLToPath(
  new URL('../../../../models/person-detector', import.meta.url),
);

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmarks (tables, or JSON with --json)');
  bench
    .command('model')
    .description('detection quality (AP@0.5, precision, recall) on held-out rendered scenes, and latency')
    .option('--model <dir>', 'model package folder (manifest.json + ONNX)', BUNDLED_MODEL_DIR)
    .option('--scene <list>', 'entrance, aisle, checkout (comma-separated) or all', 'all')
    .option('--seeds <A..B>', 'held-out evaluation seeds (training uses 1000..1999)', '9000..9004')
    .option('--frames <n>', 'frames per seed', '20')
    .option('--fps <f>', 'frame rate of the rendered sequences', '2')
    .option('--threads <n>', 'onnxruntime threads for the latency figure', '1')
    .option('--json', 'print JSON instead of a table')
    .action(async (o) => {
      const scenes = parseScenes(o.scene);
      const seeds = parseSeeds(o.seeds);
      const frames = parsePositiveInt('frames', o.frames, 10_000);
      const threads = parsePositiveInt('threads', o.threads, 256);
      const bar = progressBar(
        'bench model',
        scenes.length * seeds.length * frames,
        !o.json && process.stderr.isTTY === true,
      );
      const result = await runModelBench({
        modelDir: resolve(o.model),
        scenes,
        seeds,
        frames,
        fps: Number(o.fps),
        threads,
        onFrame: (d) => bar.update(d),
      }).finally(() => bar.stop());
      console.log(o.json ? JSON.stringify(result, null, 2) : formatModelBench(result));
    });
}
