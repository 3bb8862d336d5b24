import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parseFps, parsePositiveInt, parseSize } from '../args.ts';
import { startPlatform } from '../platform/platform.ts';
import { progressBar } from '../progress.ts';

/**
 * `storevision up` (= `npm start`): a hub, an orchestrator, two edges per store and a simulated
 * store streaming its cameras, on this machine (`src/platform/platform.ts`). Prints where to look,
 * a live line of numbers, and stops everything on Ctrl-C.
 */
export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run the whole platform here: hub, orchestrator, two edges per store, simulated cameras')
    .option('--data-dir <dir>', 'where everything keeps its data (reused by the next up)', '.data/platform')
    .option('--stores <n>', 'simulated stores (two edge nodes each)', '1')
    .option('--cameras <n>', 'cameras per store (entrance, aisle, checkout in turn)', '3')
    .option('--fps <f>', 'frame rate of each camera', '5')
    .option('--width <px>', 'camera frame width', '960')
    .option('--height <px>', 'camera frame height', '540')
    .option('--loop-seconds <n>', 'length of each camera’s pre-rendered loop', '30')
    .option('--hub-port <n>', 'model hub port (dashboard at /)', '8090')
    .option('--orchestrator-port <n>', 'orchestrator port', '8070')
    .option('--timezone <tz>', "the stores' IANA time zone", 'UTC')
    .option('--heartbeat-timeout <ms>', 'a silent edge is lost after this long and its cameras move', '6000')
    .option('--quiet', 'no progress bars')
    .addHelpText(
      'after',
      '\nThe first run renders the camera loops (about half a minute on 2 cores); later runs reuse them.\n' +
        'Example: storevision up --stores 2 --cameras 4',
    )
    .action(async (o) => {
      const started = Date.now();
      const show = !o.quiet && process.stderr.isTTY === true;
      let bar: ReturnType<typeof progressBar> | undefined;
      let barFor = '';
      const platform = await startPlatform({
        dataDir: resolve(o.dataDir),
        stores: parsePositiveInt('stores', o.stores, 50),
        cameras: parsePositiveInt('cameras', o.cameras, 64),
        fps: parseFps(o.fps),
        width: parseSize('width', o.width),
        height: parseSize('height', o.height),
        loopSeconds: parsePositiveInt('loop-seconds', o.loopSeconds, 3600),
        hubPort: Number(o.hubPort),
        orchestratorPort: Number(o.orchestratorPort),
        timezone: o.timezone,
        heartbeatTimeoutMs: parsePositiveInt('heartbeat-timeout', o.heartbeatTimeout, 600_000),
        onStep: (s) => {
          bar?.stop();
          bar = undefined;
          console.error(`storevision up: ${s}`);
        },
        onRender: (camera, done, total) => {
          if (barFor !== camera) {
            bar?.stop();
            bar = progressBar(`rendering ${camera}`.padEnd(28), total, show);
            barFor = camera;
          }
          bar?.update(done);
        },
      });
      bar?.stop();

      const lines = [
        '',
        `storevision is up (${((Date.now() - started) / 1000).toFixed(0)} s):`,
        `  dashboard      ${platform.hub.url}/   (admin token: ${platform.adminToken})`,
        `  model hub      ${platform.hub.url}    ${platform.model.name} ${platform.model.version} published, alias stable`,
        `  orchestrator   ${platform.orchestrator.url}/v1/placements`,
        ...platform.edges.map((e) => `  edge ${e.nodeId.padEnd(10)}${e.process.url}   (store ${e.storeId})`),
        ...platform.cameras.map(
          (c) =>
            `  camera ${`${c.storeId}/${c.cameraId}`.padEnd(22)} ${c.scene}, analytics at <owner edge>/v1/cameras/${c.cameraId}/analytics`,
        ),
        '',
        'Ctrl-C stops everything. Data (hub, orchestrator state, Redis AOF, rendered loops) stays in',
        `${resolve(o.dataDir)} for the next run.`,
      ];
      console.log(lines.join('\n'));

      // One status line every 10 s: frames accepted per camera, and the edge that took them (it
      // runs the camera, or forwards the frames to the edge that does).
      const status = setInterval(() => {
        const parts = platform.cameras.map((c) => {
          const via = platform.edges.find((e) => e.process.url === c.feed.stats.owner)?.nodeId ?? '—';
          return `${c.cameraId} via ${via} ${c.feed.stats.accepted}/${c.feed.stats.sent}`;
        });
        console.error(`frames accepted/sent: ${parts.join('  ')}`);
      }, 10_000);

      await new Promise<void>((done) => {
        const stop = (signal: string) => {
          clearInterval(status);
          console.error(`\nstorevision up: ${signal}, stopping cameras, edges, orchestrator, hub and Redis`);
          platform.stop().finally(done);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
