import {
  EDGE_ENV_VARS,
  EdgeConfigError,
  type EdgeConfigInput,
  loadConfig,
  startEdge,
} from '@storevision/inference-edge';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';

/**
 * `storevision edge`: one inference-edge node (HTTP API, frame queue, inference threads). Runs
 * until SIGINT/SIGTERM, then drains and stops, including the embedded Redis it started.
 */
export function registerEdge(program: Command): void {
  program
    .command('edge')
    .description('run one inference-edge node: frames in, detections out (default port 8080)')
    .option('--port <n>', 'HTTP port (0 picks a free one)', '8080')
    .option('--host <addr>', 'interface to listen on', '0.0.0.0')
    .option(
      '--redis-url <url>',
      'Redis to use (default: start an embedded redis-server with AOF under --data-dir)',
    )
    .option('--data-dir <dir>', 'data folder (the embedded Redis lives in <dir>/redis)', '.data')
    .option(
      '--models-dir <dir>',
      "folder of model packages (<dir>/<name>/manifest.json); default: the repository's models/",
    )
    .option('--models <list>', 'comma-separated models run on every camera', 'person-detector')
    .option('--node-id <id>', "this node's id (default: the host name)")
    .option('--redis-prefix <p>', 'prefix of every Redis key this node writes', 'sv')
    .option('--cores <n>', 'cores to budget threads for (default: all available)')
    .option(
      '--threads <n>',
      'inference worker threads (default: from the core budget; below 4 cores two per core for light models — input ≤ 416×416 — for throughput, one per core otherwise; --threads <cores> lowers latency at full load)',
    )
    .option(
      '--intra-op-threads <n>',
      'onnxruntime threads per inference thread (default: from the core budget)',
    )
    .option('--inference-timeout <ms>', 'watchdog: a frame taking longer restarts its thread', '15000')
    .option('--frame-attempts <n>', 'tries per frame before it counts as failed', '2')
    .option(
      '--runner-idle <ms>',
      'a frame runner with no camera due waits this long for one before its job ends (0: at once)',
      '2000',
    )
    .option(
      '--heap-growth <percent>',
      "room V8 leaves the heap past the last full GC's survivors (0: V8's own heuristic, which collects far too often on a busy edge)",
      '100',
    )
    .option('--body-limit <bytes>', 'largest request body', String(20 * 1024 * 1024))
    .option('--max-pixels <n>', 'images with more pixels are refused from their header', '40000000')
    .option('--outbox-max-len <n>', 'approximate cap of the outbox stream', '10000')
    .option('--store-id <id>', 'the store this node belongs to (on every analytics event)', 'store-1')
    .option('--timezone <tz>', "the store's IANA time zone (line counts restart at local midnight)", 'UTC')
    .option(
      '--orchestrator-url <url>',
      'register with this orchestrator and run the cameras it assigns (default: none, every camera runs every model)',
    )
    .option(
      '--advertise-url <url>',
      'where cameras and other edges reach this node (default: the listen address)',
    )
    .option('--node-pool <name>', 'node pool label (default: the store id)')
    .option('--zone <name>', 'zone label (rack, room)')
    .option('--heartbeat-interval <ms>', 'heartbeat period to the orchestrator', '2000')
    .option('--throughput-probe <ms>', 'start-up throughput measurement per model (0: skip)', '1000')
    .option(
      '--no-forward-frames',
      'answer 421 + Location for cameras another edge runs instead of forwarding their frames there',
    )
    .option('--forward-timeout <ms>', 'time budget of one forwarded frame', '2000')
    .option(
      '--peer-probe-interval <ms>',
      "probe period of the store's other edges while the orchestrator is unreachable",
      '2000',
    )
    .option(
      '--local-failover <ms>',
      'a store peer failing its probes this long (orchestrator unreachable) loses its cameras',
      '10000',
    )
    .option(
      '--motion-gate',
      "skip the models on frames that barely differ from the camera's last detected one (they repeat its detections)",
    )
    .option('--motion-threshold <levels>', 'motion gating: grey levels a pixel must change by', '20')
    .option('--motion-min-area <fraction>', 'motion gating: fraction of the picture that must move', '0.002')
    .option('--motion-max-skip <ms>', "motion gating: a camera's models run at least this often", '5000')
    .option('--hub-url <url>', 'model hub to upload analytics events to (default: no upload)')
    .option('--hub-token <token>', "this node's hub API token (role node)")
    .option(
      '--hub-enrolment-token <token>',
      'enrolment token from a hub admin, exchanged once for a node token',
    )
    .option(
      '--hub-public-key <pem-or-file>',
      "the hub's ed25519 public key (pinned; turns the model agent on)",
    )
    .option(
      '--snapshot-interval <ms>',
      "with --hub-url: each analysed camera's snapshot (boxes, zones, lines) to the hub this often; 0 turns snapshots off",
      '10000',
    )
    .option('--snapshot-max-side <px>', 'long side of a snapshot', '640')
    .option('--no-snapshot-blur', 'send snapshots without blurring the people in them')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent', 'info')
    .addHelpText(
      'after',
      `\nEvery option can also come from the environment: ${EDGE_ENV_VARS.join(', ')}.\n` +
        'Options given here win over the environment.\n\nExample:\n' +
        '  storevision edge --port 8080 --redis-url redis://127.0.0.1:6379 --node-id store-1-a\n' +
        "  curl -H 'content-type: image/jpeg' --data-binary @frame.jpg localhost:8080/v1/models/person-detector/detect",
    )
    .action(async (o, cmd: Command) => {
      // Only options the user typed override the environment; commander's defaults apply when neither is set.
      const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
      const pick = <K extends keyof EdgeConfigInput>(
        key: K,
        option: string,
        map: (v: string) => EdgeConfigInput[K],
      ) =>
        given(option) || (!process.env[envName(key)] && o[option] !== undefined)
          ? { [key]: map(o[option]) }
          : {};
      let config: ReturnType<typeof loadConfig>;
      try {
        config = loadConfig(process.env, {
          ...pick('port', 'port', Number),
          ...pick('host', 'host', String),
          ...pick('redisUrl', 'redisUrl', String),
          ...pick('dataDir', 'dataDir', String),
          ...pick('modelsDir', 'modelsDir', String),
          ...pick('models', 'models', (v) =>
            v
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean),
          ),
          ...pick('nodeId', 'nodeId', String),
          ...pick('redisPrefix', 'redisPrefix', String),
          ...pick('cores', 'cores', Number),
          ...pick('inferenceThreads', 'threads', Number),
          ...pick('intraOpThreads', 'intraOpThreads', Number),
          ...pick('inferenceTimeoutMs', 'inferenceTimeout', Number),
          ...pick('frameAttempts', 'frameAttempts', Number),
          ...pick('runnerIdleMs', 'runnerIdle', Number),
          ...pick('heapGrowthPercent', 'heapGrowth', Number),
          ...pick('bodyLimitBytes', 'bodyLimit', Number),
          ...pick('maxPixels', 'maxPixels', Number),
          ...pick('outboxMaxLen', 'outboxMaxLen', Number),
          ...pick('hubUrl', 'hubUrl', String),
          ...pick('hubToken', 'hubToken', String),
          ...pick('hubEnrolmentToken', 'hubEnrolmentToken', String),
          ...pick('hubPublicKey', 'hubPublicKey', String),
          ...pick('storeId', 'storeId', String),
          ...pick('timezone', 'timezone', String),
          ...pick('orchestratorUrl', 'orchestratorUrl', String),
          ...pick('advertiseUrl', 'advertiseUrl', String),
          ...pick('nodePool', 'nodePool', String),
          ...pick('zone', 'zone', String),
          ...pick('heartbeatIntervalMs', 'heartbeatInterval', Number),
          ...pick('throughputProbeMs', 'throughputProbe', Number),
          ...(given('forwardFrames') ? { forwardFrames: o.forwardFrames as boolean } : {}),
          ...pick('forwardTimeoutMs', 'forwardTimeout', Number),
          ...(given('motionGate') ? { motionGate: true } : {}),
          ...pick('motionThreshold', 'motionThreshold', Number),
          ...pick('motionMinArea', 'motionMinArea', Number),
          ...pick('motionMaxSkipMs', 'motionMaxSkip', Number),
          ...pick('peerProbeIntervalMs', 'peerProbeInterval', Number),
          ...pick('localFailoverMs', 'localFailover', Number),
          ...pick('snapshotIntervalMs', 'snapshotInterval', Number),
          ...pick('snapshotMaxSide', 'snapshotMaxSide', Number),
          ...(given('snapshotBlur') ? { snapshotBlurPeople: o.snapshotBlur as boolean } : {}),
          ...pick('logLevel', 'logLevel', (v) => v as EdgeConfigInput['logLevel']),
        });
      } catch (err) {
        if (err instanceof EdgeConfigError) throw new CliError('CLI_ERR_USAGE', err.message);
        throw err;
      }
      const edge = await startEdge(config);
      const redis = edge.redis ? `embedded Redis ${edge.redis.url}` : `Redis ${config.redisUrl}`;
      console.error(
        `storevision edge: listening on ${edge.url} (node ${config.nodeId}, ${redis}); models loading, see ${edge.url}/readyz`,
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          console.error(`storevision edge: ${signal}, stopping`);
          edge.close().finally(resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}

function envName(key: string): string {
  return `EDGE_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}
