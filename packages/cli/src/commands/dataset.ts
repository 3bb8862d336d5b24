import { exportYoloDataset } from '@storevision/scenes';
import type { Command } from 'commander';
import { parsePositiveInt, parsePositiveNumber, parseScenes, parseSeeds } from '../args.ts';
import { withOutputDir } from '../output-dir.ts';
import { progressBar } from '../progress.ts';

export function registerDataset(program: Command): void {
  program
    .command('dataset')
    .description('export rendered store frames as a YOLO txt training set (images/ + labels/)')
    .requiredOption('--out <dir>', 'output folder (must not exist or be empty)')
    .requiredOption(
      '--seeds <A..B>',
      'seeds to render, e.g. 1000..1999 (keep them apart from evaluation seeds)',
    )
    .option('--scenes <list>', 'comma-separated scenes, or all', 'all')
    .option('--frames-per-seed <n>', 'frames taken from each sequence', '2')
    .option('--long-side <px>', 'downscale so the long side is at most this', '416')
    .option(
      '--min-visible <fraction>',
      'label objects at least this visible (0 to 1; the rest of a hidden person is still in its box)',
      '0.25',
    )
    .option('--quiet', 'no progress bar')
    .action(async (o) => {
      const seeds = parseSeeds(o.seeds);
      const scenes = parseScenes(o.scenes);
      const framesPerSeed = parsePositiveInt('frames-per-seed', o.framesPerSeed, 100);
      const longSide = parsePositiveInt('long-side', o.longSide, 4096);
      const minVisible = parsePositiveNumber('min-visible', o.minVisible, 1);
      const bar = progressBar(
        'dataset',
        seeds.length * scenes.length * framesPerSeed,
        !o.quiet && process.stderr.isTTY === true,
      );
      const stats = await withOutputDir(o.out, (dir) =>
        exportYoloDataset(dir, { scenes, seeds, framesPerSeed, longSide, minVisible, gapSeconds: 4 }, (d) =>
          bar.update(d),
        ),
      ).finally(() => bar.stop());
      console.log(
        `${stats.images} images, ${stats.objects.person} people, ${stats.objects.cart} carts written to ${o.out}`,
      );
    });
}
