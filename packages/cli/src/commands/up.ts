import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SequenceRenderer, writeSequence } from '@storevision/scenes';
import type { Command } from 'commander';
import { withOutputDir } from '../output-dir.ts';
import { progressBar } from '../progress.ts';

/**
 * `storevision up`: the whole platform on this machine. Until the edge, hub and orchestrator land
 * it renders one demo sequence of each store camera into the data folder and says where.
 */
export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run storevision on this machine (for now: render a demo store into the data folder)')
    .option('--data-dir <dir>', 'where the platform keeps its data', '.data')
    .option('--frames <n>', 'frames per demo camera', '100')
    .action(async (o) => {
      const root = resolve(o.dataDir, 'demo');
      for (const scene of ['entrance', 'aisle', 'checkout'] as const) {
        const out = join(root, scene);
        await rm(out, { recursive: true, force: true });
        const r = new SequenceRenderer({
          scene,
          seed: 7,
          frames: Number(o.frames),
          fps: 10,
          width: 1280,
          height: 720,
        });
        const bar = progressBar(scene.padEnd(8), Number(o.frames));
        await withOutputDir(out, (dir) => writeSequence(r, dir, (f) => bar.update(f.index + 1))).finally(() =>
          bar.stop(),
        );
        const s = r.finish().summary;
        console.log(`${scene}: ${o.frames} frames with ${s.tracks} tracked people and carts -> ${out}`);
      }
      console.log(`\nDemo store written to ${root} (frames/, ground-truth.jsonl, scene.json per camera).`);
      console.log('Next: storevision simulate --help, storevision bench model --help');
    });
}
