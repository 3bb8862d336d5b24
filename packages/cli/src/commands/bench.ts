import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import {
  parseCrowd,
  parseFps,
  parseFraction,
  parseNonNegativeInt,
  parsePositiveInt,
  parsePositiveNumber,
  parseScenes,
  parseSeed,
  parseSeeds,
  parseSize,
} from '../args.ts';
import { formatAnalyticsBench, runAnalyticsBench } from '../bench/analytics-bench.ts';
import { formatEdgeBench, runEdgeBench } from '../bench/edge-bench.ts';
import { defaultBareConfigs, parseBareConfig, parseResolution } from '../bench/edge-bench-stats.ts';
import { formatEventsBench, runEventsBench } from '../bench/events-bench.ts';
import { formatModelBench, runModelBench } from '../bench/model-bench.ts';
import { formatModelsBench, runModelsBench } from '../bench/models-bench.ts';
import { formatOutageBench, runOutageBench } from '../bench/outage-bench.ts';
import { formatPlacementBench, runPlacementBench } from '../bench/placement-bench.ts';
import { CliError } from '../errors.ts';
import { progressBar } from '../progress.ts';

/** The model shipped in the repository. */
export const BUNDLED_MODEL_DIR = fileURLToPath(
  new URL('../../../../models/person-detector', import.meta.url),
);

/** The real Ultralytics YOLOv8n export beside the checkout (not redistributable, so not in the repo). */
export const YOLOV8N_FIXTURE = fileURLToPath(
  new URL('../../../../../shared/fixtures/real-yolov8n/yolov8n_int8.onnx', import.meta.url),
);

/** Rendered sequences of `bench analytics`, kept between runs (git-ignored). */
const ANALYTICS_CACHE_DIR = fileURLToPath(
  new URL('../../../../bench/results/analytics-cache', import.meta.url),
);
const MODELS_DIR = fileURLToPath(new URL('../../../../models', import.meta.url));

/** `--save PATH`: writes `PATH.txt` (the table) and `PATH.json` (the result); resolves the absolute PATH. */
async function saveResult(save: string, table: string, result: unknown): Promise<string> {
  const base = resolve(save);
  await mkdir(dirname(base), { recursive: true });
  await writeFile(`${base}.txt`, `${table}\n`);
  await writeFile(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
  return base;
}

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmarks (tables, or JSON with --json)');
  bench
    .command('models')
    .description(
      'model delivery: publish of a big model vs disk write speed (hub RSS sampled), a rollout to N simulated edges vs the bare transfer, resume after a cut at 50 %',
    )
    .option('--publish-mb <n>', 'size of the published model, MB', '100')
    .option(
      '--publish-rounds <n>',
      'publishes of it, each after its own disk measurement (medians reported)',
      '3',
    )
    .option('--edges <n>', 'simulated edges receiving a new version', '200')
    .option(
      '--fanout-channel <push|poll>',
      'how the simulated edges learn of it: push channel (SSE) or long-poll',
      'push',
    )
    .option('--json', 'print JSON instead of a table')
    .action(async (o) => {
      if (o.fanoutChannel !== 'push' && o.fanoutChannel !== 'poll')
        throw new CliError('CLI_ERR_USAGE', `--fanout-channel is push or poll, not ${o.fanoutChannel}`);
      const result = await runModelsBench({
        publishMb: parsePositiveInt('publish-mb', o.publishMb, 10_000),
        publishRounds: parsePositiveInt('publish-rounds', o.publishRounds, 100),
        edges: parsePositiveInt('edges', o.edges, 10_000),
        fanoutChannel: o.fanoutChannel,
        onProgress: (m) => {
          if (!o.json) process.stderr.write(`bench models: ${m}\n`);
        },
      });
      console.log(o.json ? JSON.stringify(result, null, 2) : formatModelsBench(result));
    });
  bench
    .command('events')
    .description(
      "the hub's store-event path: ingest events/s (gzip batches over HTTP) and metrics query latencies over a month of many stores",
    )
    .option('--events <n>', 'events to ingest', '100000')
    .option('--batch-size <n>', 'events per batch', '500')
    .option('--concurrency <n>', 'uploaders at once', '2')
    .option('--stores <n>', 'stores of history loaded for the queries', '100')
    .option('--days <n>', 'days of history per store', '30')
    .option('--query-runs <n>', 'runs per query', '30')
    .option('--database-url <url>', 'postgres://… to bench PostgreSQL (default: a temporary SQLite file)')
    .option('--json', 'print JSON instead of a table')
    .action(async (o) => {
      const result = await runEventsBench({
        events: parsePositiveInt('events', o.events, 100_000_000),
        batchSize: parsePositiveInt('batch-size', o.batchSize, 5000),
        concurrency: parsePositiveInt('concurrency', o.concurrency, 64),
        stores: parsePositiveInt('stores', o.stores, 10_000),
        days: parsePositiveInt('days', o.days, 366),
        queryRuns: parsePositiveInt('query-runs', o.queryRuns, 10_000),
        ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}),
        onProgress: (m) => {
          if (!o.json) process.stderr.write(`${m}\n`);
        },
      });
      console.log(o.json ? JSON.stringify(result, null, 2) : formatEventsBench(result));
    });
  bench
    .command('analytics')
    .description(
      'footfall, occupancy, dwell, queue and tracking (MOTA/IDF1) end to end through a running edge, against the ground truth of rendered sequences',
    )
    .option('--scene <list>', 'entrance, aisle, checkout (comma-separated) or all', 'all')
    .option('--seeds <A..B>', 'held-out seeds, one sequence each', '9100..9102')
    .option('--seconds <n>', 'simulated seconds per sequence', '200')
    .option('--fps <f>', 'capture rate of the sequences', '10')
    .option('--detect-fps <f>', 'detection rate: every (fps/detect-fps)-th frame is pushed (default: --fps)')
    .option('--cameras <n>', 'sequences streamed at once, one camera each', '3')
    .option('--cache <dir>', 'where rendered sequences are kept between runs', ANALYTICS_CACHE_DIR)
    .option(
      '--models <dir>',
      'folder of model packages the edge loads (its person-detector/ is the detector): a candidate before it is published',
      MODELS_DIR,
    )
    .option(
      '--replay',
      "for tuning: the edge only detects (once per frame, cached beside the sequence); the analytics run in this process on those detections (the edge's counts, in seconds)",
    )
    .option(
      '--truth-boxes [visible]',
      "the detector taken out: the truth's boxes of people at least this visible (0-1; 0.25 if no value, the share the detector is trained to find) analysed in this process, no edge; scores the tracker and counting rules alone",
    )
    .option('--crowd <x>', "the scenes' arrival rates times this: 0.1 a quiet hour, 0 an empty store", '1')
    .option(
      '--motion-gate',
      "run the edge with --motion-gate: frames that barely differ from the camera's last detected one repeat its detections",
    )
    .option('--json', 'print JSON instead of a table')
    .option('--save <path>', 'also write <path>.txt and <path>.json')
    .addHelpText(
      'after',
      '\nRendering is cached: the first run of a seed renders it (about 0.1-0.2 s a frame), later runs reuse it.\nExample: storevision bench analytics --scene entrance --seeds 9100..9101 --detect-fps 5\nTuning on development seeds (never the evaluation ones): storevision bench analytics --scene entrance --seeds 8200..8202 --replay\nThe tracker alone, as with a perfect detector: storevision bench analytics --scene entrance --truth-boxes',
    )
    .action(async (o) => {
      const fps = parseFps(o.fps);
      const opts = {
        scenes: parseScenes(o.scene),
        seeds: parseSeeds(o.seeds),
        seconds: parsePositiveInt('seconds', o.seconds, 86_400),
        fps,
        detectFps: o.detectFps === undefined ? fps : parseFps(o.detectFps),
        cameras: parsePositiveInt('cameras', o.cameras, 64),
        cacheDir: resolve(o.cache),
        modelsDir: resolve(o.models),
        replay: o.replay === true,
        motionGate: o.motionGate === true,
        crowd: parseCrowd(o.crowd),
        ...(o.truthBoxes === undefined
          ? {}
          : { truthBoxes: o.truthBoxes === true ? 0.25 : parseFraction('truth-boxes', o.truthBoxes) }),
      };
      if (!existsSync(resolve(opts.modelsDir, 'person-detector', 'manifest.json')))
        throw new CliError(
          'CLI_ERR_USAGE',
          `--models ${o.models}: no person-detector/manifest.json there (the folder holds model packages, one folder each)`,
        );
      if (opts.truthBoxes !== undefined && (opts.replay || opts.motionGate))
        throw new CliError(
          'CLI_ERR_USAGE',
          '--truth-boxes runs no detector: --replay and --motion-gate do not apply to it',
        );
      if (opts.replay && opts.motionGate)
        throw new CliError(
          'CLI_ERR_USAGE',
          '--motion-gate works on the frame path, --replay detects each frame by itself: use one of them',
        );
      if (!Number.isInteger(opts.fps / opts.detectFps))
        throw new CliError(
          'CLI_ERR_USAGE',
          `--detect-fps must divide --fps (${opts.fps}): got ${opts.detectFps}`,
        );
      // The total is known once the sequences are rendered (or found in the cache).
      let bar: ReturnType<typeof progressBar> | undefined;
      const result = await runAnalyticsBench({
        ...opts,
        onProgress: (m) => {
          if (!o.json) process.stderr.write(`${m}\n`);
        },
        onFrame: (done, total) => {
          bar ??= progressBar('bench analytics', total, !o.json && process.stderr.isTTY === true);
          bar.update(done);
        },
      }).finally(() => bar?.stop());
      const text = formatAnalyticsBench(result);
      console.log(o.json ? JSON.stringify(result, null, 2) : text);
      if (o.save) await saveResult(o.save, text, result);
    });
  bench
    .command('model')
    .description('detection quality (AP@0.5, precision, recall) on held-out rendered scenes, and latency')
    .option('--model <dir>', 'model package folder (manifest.json + ONNX)', BUNDLED_MODEL_DIR)
    .option('--scene <list>', 'entrance, aisle, checkout (comma-separated) or all', 'all')
    .option(
      '--seeds <A..B>',
      'held-out evaluation seeds (training uses 1000..1999, validation 8000..8149)',
      '9000..9009',
    )
    .option('--frames <n>', 'frames per seed', '10')
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
  registerEdgeBench(bench);
  registerOutageBench(bench);
  bench
    .command('placement')
    .description(
      'orchestrator planner: plan time for a chain, re-plan after a node loss, optimality gap vs HiGHS',
    )
    .option('--stores <n>', 'stores of the chain', '1000')
    .option('--nodes <n>', 'nodes per store', '4')
    .option('--cameras <n>', 'cameras per store (2 pipelines each)', '12')
    .option('--gap-stores <n>', 'small random stores solved exactly for the gap', '50')
    .option('--seed <n>', 'seed of the random instances', '7')
    .option('--headroom <x>', 'share of capacity left free', '0.2')
    .option('--json', 'print JSON instead of a table')
    .action(async (o) => {
      const result = await runPlacementBench({
        stores: parsePositiveInt('stores', o.stores, 100_000),
        nodesPerStore: parsePositiveInt('nodes', o.nodes, 64),
        camerasPerStore: parsePositiveInt('cameras', o.cameras, 256),
        gapStores: parsePositiveInt('gap-stores', o.gapStores, 10_000),
        seed: parseSeed(o.seed),
        headroom: Number(o.headroom),
      });
      console.log(o.json ? JSON.stringify(result, null, 2) : formatPlacementBench(result));
    });
}

/** Option values of `bench edge` that `--quick` changes (unless given on the command line). */
const EDGE_QUICK: Record<string, string> = {
  resolutions: '1280x720',
  frames: '12',
  cameras: '4',
  latencyCameras: '4',
  overloadCameras: '4',
  seconds: '3',
  bareSeconds: '2',
};

function registerEdgeBench(bench: Command): void {
  bench
    .command('edge')
    .description(
      'edge service vs the bare limit: throughput, latency at 50/100 % load, 3x overload (drops, memory)',
    )
    .option('--model <dir>', 'model package folder of the main comparison', BUNDLED_MODEL_DIR)
    .option('--yolo <onnx>', 'Ultralytics YOLOv8n export for the model-bound comparison', YOLOV8N_FIXTURE)
    .option('--no-yolo', 'skip the YOLOv8n comparison')
    .option('--resolutions <list>', 'frame sizes, comma-separated', '1280x720,1920x1080')
    .option(
      '--scenes <list>',
      'scenes the frames come from (comma-separated) or all',
      'entrance,aisle,checkout',
    )
    .option('--seed <n>', 'first seed of the rendered scenes (one per scene)', '9100')
    .option('--frames <n>', 'pre-rendered frames per resolution', '40')
    .option('--cameras <list>', 'camera counts of the throughput runs', '4,8,16')
    .option('--latency-cameras <n>', 'cameras of the latency runs', '8')
    .option('--overload-cameras <n>', 'cameras of the overload runs (default: the largest of --cameras)')
    .option('--latency-loads <list>', 'latency runs, as fractions of the measured capacity', '0.5,1')
    .option('--capacity-load <x>', 'offered load of the throughput runs, x the bare limit', '1')
    .option(
      '--sustained',
      'after each throughput run, also find the highest rate the node keeps up with (<= 1 % dropped; ~3 min more)',
    )
    .option('--overload-load <x>', 'offered load of the overload runs, x the measured capacity', '3')
    .option('--yolo-cameras <n>', 'cameras of the YOLOv8n runs', '4')
    .option('--yolo-resolution <WxH>', 'frame size of the YOLOv8n runs', '1280x720')
    .option('--seconds <n>', 'sending window of every service run', '12')
    .option('--bare-seconds <n>', 'timed window of every bare-limit layout', '6')
    .option(
      '--bare-layouts <list>',
      'bare-limit layouts THREADSxINTRAOP, comma-separated (default: 1x<cores>,<cores>x1,<2 cores>x1)',
    )
    .option('--edge-threads <n>', "edge inference threads (default: the edge's own budget)")
    .option(
      '--edge-intra-op-threads <n>',
      "onnxruntime threads per edge inference thread (default: the edge's)",
    )
    .option('--edge-runner-idle <ms>', "the edge's --runner-idle (default: the edge's, 2000; 0 = off)")
    .option(
      '--edge-heap-growth <percent>',
      "the edge's --heap-growth (default: the edge's, 100; 0 = V8's own heuristic)",
    )
    .option('--ratio-target <x>', 'service/bare throughput target', '0.85')
    .option('--p99-target <x>', 'overload p99 target, x the bare per-frame time', '5')
    .option(
      '--quick',
      `~1-minute smoke run (${Object.entries(EDGE_QUICK)
        .map(([k, v]) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${v}`)
        .join(', ')})`,
    )
    .option('--save <path>', 'also write <path>.json and <path>.txt')
    .option('--json', 'print JSON instead of tables')
    .addHelpText(
      'after',
      '\nThe edge runs as a child process (`storevision edge`, its default thread budget) against a private\n' +
        'redis-server on a free loopback port; cameras are simulated in this process over keep-alive HTTP.\n' +
        'Do not run it beside other CPU-heavy work: every figure is compared with the bare limit of this run.\n\n' +
        'Example:\n  npm run bench -- edge --quick\n  storevision bench edge --json --save bench/results/edge-$(date +%F)',
    )
    .action(async (opts, cmd: Command) => {
      const o = { ...opts } as Record<string, string | boolean | undefined>;
      if (o.quick)
        for (const [k, v] of Object.entries(EDGE_QUICK)) if (cmd.getOptionValueSource(k) !== 'cli') o[k] = v;
      const str = (k: string) => String(o[k]);
      const int = (k: string, max = 10_000) => parsePositiveInt(k, str(k), max);
      const ints = (k: string) =>
        str(k)
          .split(',')
          .map((v) => parsePositiveInt(k, v.trim(), 1000));
      const factor = (k: string) => {
        const v = Number(str(k));
        if (!Number.isFinite(v) || v <= 0) throw new CliError('CLI_ERR_USAGE', `bad ${k} "${str(k)}"`);
        return v;
      };
      const usage = <T>(f: () => T) => {
        try {
          return f();
        } catch (err) {
          throw new CliError('CLI_ERR_USAGE', (err as Error).message);
        }
      };
      const cameras = ints('cameras');
      let yoloOnnx: string | undefined;
      let yoloSkipReason: string | undefined;
      if (o.yolo === false) yoloSkipReason = '--no-yolo';
      else if (!existsSync(str('yolo')))
        yoloSkipReason = `${str('yolo')} is absent (../shared/fixtures/real-yolov8n is not beside this checkout)`;
      else yoloOnnx = resolve(str('yolo'));
      const resolutions = usage(() => str('resolutions').split(',').map(parseResolution));
      const result = await runEdgeBench({
        modelDir: resolve(str('model')),
        yoloOnnx,
        yoloSkipReason,
        resolutions,
        scenes: parseScenes(str('scenes')),
        seed: parseSeed(str('seed')),
        framesPerResolution: int('frames', 1000),
        cameras,
        latencyCameras: int('latencyCameras', 1000),
        overloadCameras: o.overloadCameras ? int('overloadCameras', 1000) : Math.max(...cameras),
        latencyLoads: str('latencyLoads')
          .split(',')
          .map((v) => {
            const x = Number(v);
            if (!Number.isFinite(x) || x <= 0) throw new CliError('CLI_ERR_USAGE', `bad latency load "${v}"`);
            return x;
          }),
        capacityLoad: factor('capacityLoad'),
        sustained: o.sustained === true,
        overloadLoad: factor('overloadLoad'),
        yoloCameras: int('yoloCameras', 1000),
        yoloResolution: usage(() => parseResolution(str('yoloResolution'))),
        seconds: int('seconds', 3600),
        bareSeconds: int('bareSeconds', 3600),
        bareConfigs: o.bareLayouts
          ? usage(() => str('bareLayouts').split(',').map(parseBareConfig))
          : defaultBareConfigs(os.availableParallelism()),
        edgeThreads: o.edgeThreads ? int('edgeThreads', 256) : undefined,
        edgeIntraOpThreads: o.edgeIntraOpThreads ? int('edgeIntraOpThreads', 256) : undefined,
        edgeRunnerIdleMs:
          o.edgeRunnerIdle === undefined
            ? undefined
            : parseNonNegativeInt('--edge-runner-idle', str('edgeRunnerIdle'), 10_000),
        edgeHeapGrowthPercent:
          o.edgeHeapGrowth === undefined
            ? undefined
            : parseNonNegativeInt('--edge-heap-growth', str('edgeHeapGrowth'), 400),
        ratioTarget: factor('ratioTarget'),
        p99Target: factor('p99Target'),
        onProgress: (msg) => console.error(`bench edge: ${msg}`),
      });
      const table = formatEdgeBench(result);
      if (o.save) {
        const base = await saveResult(str('save'), table, result);
        console.error(`bench edge: wrote ${base}.json and ${base}.txt`);
      }
      console.log(o.json ? JSON.stringify(result, null, 2) : table);
    });
}

function registerOutageBench(bench: Command): void {
  bench
    .command('outage')
    .description(
      'cloud outage soak: hub and orchestrator stopped for a simulated hour while the store streams; every event in the hub once, numbers equal to an uninterrupted run',
    )
    .option('--minutes <n>', 'simulated minutes of each sequence', '70')
    .option('--outage-minutes <n>', 'simulated minutes of the outage, in the middle of the sequence', '60')
    .option('--fps <f>', 'frame rate of the sequences', '5')
    .option('--width <px>', 'frame width', '640')
    .option('--height <px>', 'frame height', '480')
    .option('--entrance-seed <n>', 'seed of the entrance sequence', '9108')
    .option('--checkout-seed <n>', 'seed of the checkout sequence', '9104')
    .option(
      '--spool-dir <dir>',
      'where the rendered frames are kept during the run (about 1 GB per scene-hour at 640x480)',
    )
    .option('--json', 'print JSON instead of a table')
    .option('--save <path>', 'also write <path>.json and <path>.txt')
    .addHelpText(
      'after',
      '\nThe platform of the fault tests (test/platform-faults.int.test.ts): hub and orchestrator in this process,\n' +
        'two `storevision edge` child processes, each with its own redis-server (AOF on). An entrance and a checkout\n' +
        'sequence are rendered once and played closed loop twice with the same capture times: as entrance-ref and\n' +
        'checkout-ref with the cloud up, then as entrance-cut and checkout-cut with hub and orchestrator stopped for\n' +
        '--outage-minutes. Progress goes to stderr; the table (or JSON) to stdout; exit status 1 when a check fails.\n' +
        'Defaults take about half an hour on 2 cores.\n\n' +
        'Example:\n  storevision bench outage --minutes 4 --outage-minutes 3\n  storevision bench outage --save bench/results/outage-hour',
    )
    .action(async (o) => {
      const minutes = parsePositiveNumber('minutes', o.minutes, 24 * 60);
      const outageMinutes = parsePositiveNumber('outage-minutes', o.outageMinutes, 24 * 60);
      if (outageMinutes >= minutes)
        throw new CliError(
          'CLI_ERR_USAGE',
          `--outage-minutes (${outageMinutes}) must be shorter than --minutes (${minutes})`,
        );
      const result = await runOutageBench({
        minutes,
        outageMinutes,
        fps: parseFps(o.fps),
        width: parseSize('width', o.width),
        height: parseSize('height', o.height),
        entranceSeed: parseSeed(o.entranceSeed),
        checkoutSeed: parseSeed(o.checkoutSeed),
        ...(o.spoolDir ? { spoolDir: resolve(o.spoolDir) } : {}),
        onProgress: (m) => process.stderr.write(`bench outage: ${m}\n`),
      });
      const table = formatOutageBench(result);
      if (o.save) {
        const base = await saveResult(o.save, table, result);
        process.stderr.write(`bench outage: wrote ${base}.json and ${base}.txt\n`);
      }
      console.log(o.json ? JSON.stringify(result, null, 2) : table);
      const failed = result.checks.filter((c) => !c.ok);
      if (failed.length > 0)
        throw new CliError(
          'CLI_ERR_BENCH_CHECK_FAILED',
          `${failed.length} of ${result.checks.length} checks failed: ${failed.map((c) => c.name).join('; ')}`,
        );
    });
}
