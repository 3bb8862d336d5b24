import { analyticsConfigForScene } from '@storevision/analytics';
import { type RenderedFrame, SequenceRenderer, streamSequence, writeSequence } from '@storevision/scenes';
import type { Command } from 'commander';
import { parseCrowd, parseFps, parsePositiveInt, parseScene, parseSeed, parseSize } from '../args.ts';
import { EdgeFramePusher } from '../edge-client.ts';
import { CliError } from '../errors.ts';
import { withOutputDir } from '../output-dir.ts';
import { progressBar } from '../progress.ts';

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description(
      'render a synthetic store camera sequence with exact ground truth; write it and/or stream it to an edge',
    )
    .requiredOption('--scene <name>', 'entrance | aisle | checkout')
    .option('--seed <n>', 'random seed (same seed, same frames)', '1')
    .option('--frames <n>', 'number of frames', '300')
    .option('--fps <f>', 'frames per second', '10')
    .option('--width <px>', 'frame width (with --height); default: chosen by the seed, 640–1920')
    .option('--height <px>', 'frame height (with --width)')
    .option('--crowd <x>', "the scene's arrival rates times this: 0.1 a quiet hour, 0 an empty store", '1')
    .option('--out <dir>', 'write frames/NNNNNN.jpg, ground-truth.jsonl and scene.json here')
    .option('--edge <url>', 'push frames in real time to this edge (e.g. http://localhost:8080)')
    .option('--camera <id>', 'camera id used with --edge', 'cam-1')
    .option(
      '--analytics',
      "with --edge: first give the camera the scene's analytics config (zones, lines, occupancy, footfall, dwell, queue)",
    )
    .option(
      '--live-clock',
      'capture times from now, not the fixed reproducible epoch (for the live dashboard)',
    )
    .option('--quiet', 'no progress bar')
    .addHelpText(
      'after',
      '\nExamples:\n  storevision simulate --scene checkout --seed 123 --frames 300 --out /tmp/seq\n  storevision simulate --scene entrance --fps 5 --frames 600 --edge http://localhost:8080 --camera door-1',
    )
    .action(async (o) => {
      const scene = parseScene(o.scene);
      const seed = parseSeed(o.seed);
      const frames = parsePositiveInt('frames', o.frames, 1_000_000);
      const fps = parseFps(o.fps);
      if ((o.width === undefined) !== (o.height === undefined))
        throw new CliError('CLI_ERR_BAD_SIZE', 'give both --width and --height, or neither');
      const size = o.width
        ? { width: parseSize('width', o.width), height: parseSize('height', o.height) }
        : {};
      if (!o.out && !o.edge) throw new CliError('CLI_ERR_USAGE', 'give --out DIR, --edge URL, or both');
      let edgeUrl: string | undefined;
      if (o.edge) {
        try {
          edgeUrl = new URL(o.edge).toString();
        } catch {
          throw new CliError('CLI_ERR_USAGE', `bad --edge URL "${o.edge}"`);
        }
      }
      const renderer = new SequenceRenderer({
        scene,
        seed,
        frames,
        fps,
        ...size,
        crowd: parseCrowd(o.crowd),
        ...(o.liveClock ? { startEpochMs: Date.now() } : {}),
      });
      const pusher = edgeUrl ? new EdgeFramePusher({ edgeUrl, cameraId: o.camera, fps }) : undefined;
      if (pusher && !/^[A-Za-z0-9_.-]{1,64}$/.test(o.camera))
        throw new CliError('CLI_ERR_USAGE', `bad --camera "${o.camera}": use 1–64 of A-Z a-z 0-9 _ . -`);
      if (edgeUrl && o.analytics) {
        const url = new URL(`v1/cameras/${encodeURIComponent(o.camera)}/analytics/config`, edgeUrl);
        const res = await fetch(url, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(analyticsConfigForScene(renderer.describe())),
        }).catch((err: Error) => {
          throw new CliError('CLI_ERR_USAGE', `cannot reach ${edgeUrl}: ${err.message}`);
        });
        if (!res.ok)
          throw new CliError('CLI_ERR_USAGE', `edge refused the analytics config: ${await res.text()}`);
      }
      const bar = progressBar(`${scene} seed ${seed}`, frames, !o.quiet && process.stderr.isTTY === true);
      const onFrame = async (f: RenderedFrame) => {
        if (pusher) await pusher.push(f.index, f.jpeg, renderer.startEpochMs + f.truth.t);
        bar.update(
          f.index + 1,
          pusher
            ? `sent ${pusher.stats.accepted} ok, ${pusher.stats.failed + pusher.stats.rejected} failed`
            : '',
        );
      };
      try {
        if (o.out) await withOutputDir(o.out, (dir) => writeSequence(renderer, dir, onFrame));
        else await streamSequence(renderer, onFrame);
      } finally {
        bar.stop();
      }
      const { summary } = renderer.finish();
      const c = renderer.conditions;
      console.log(
        `${scene} seed ${seed}: ${frames} frames ${c.width}x${c.height} @ ${fps} fps, ${summary.tracks} tracks` +
          (o.out ? `, written to ${o.out}` : ''),
      );
      if (pusher) {
        const s = pusher.stats;
        console.log(
          `edge ${edgeUrl}: ${s.accepted}/${s.sent} accepted, ${s.rejected} rejected, ${s.failed} failed${s.lastError ? ` (last error: ${s.lastError})` : ''}`,
        );
        if (s.accepted === 0 && s.sent > 0)
          throw new CliError(
            'CLI_ERR_EDGE_UNREACHABLE',
            `no frame was accepted by ${edgeUrl}${s.lastError ? `: ${s.lastError}` : ''}`,
          );
      }
    });
}
