import { readFile } from 'node:fs/promises';
import { closeServer, type FrameJob, type NodeAssignment } from '@storevision/contracts';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { build } from './app.ts';
import type { EdgeConfig } from './config.ts';
import { EdgeError } from './errors.ts';
import type { InjectedFault } from './inference/messages.ts';
import { InferencePool } from './inference/pool.ts';
import { EdgeMetrics } from './metrics.ts';
import type { ModelAgent } from './models/model-agent.ts';
import { nodeTokenFile, prepareModels } from './models/model-setup.ts';
import { CameraOwnership } from './orchestrator/camera-ownership.ts';
import { CameraPuller, CameraPullers } from './orchestrator/camera-puller.ts';
import { detectCapabilities, measureThroughput } from './orchestrator/capabilities.ts';
import { FrameForwarder } from './orchestrator/frame-forwarder.ts';
import { OrchestratorAgent } from './orchestrator/orchestrator-agent.ts';
import { StoreFailover } from './orchestrator/store-failover.ts';
import { FrameQueue } from './queue/frame-queue.ts';
import { AnalyticsRepository } from './repositories/analytics.repository.ts';
import { EventOutboxRepository } from './repositories/event-outbox.repository.ts';
import {
  defineFrameScripts,
  FrameRepository,
  type FrameRepositoryOptions,
  LocalFrameBytes,
} from './repositories/frame.repository.ts';
import { AnalyticsService } from './services/analytics.service.ts';
import { AnalyticsProcessor } from './services/analytics-processor.ts';
import { EventUploader, type EventUploaderOptions } from './services/event-uploader.ts';
import { FrameService } from './services/frame.service.ts';
import { FrameProcessor } from './services/frame-processor.ts';
import { HealthService } from './services/health.service.ts';
import { InferenceService } from './services/inference.service.ts';
import { ResultService } from './services/result.service.ts';
import { SnapshotUploader } from './services/snapshot-uploader.ts';
import { lightModels, planThreads, type ThreadBudget } from './thread-budget.ts';

export interface EdgeNodeOptions {
  logger?: Logger;
  /** Tests only: inject crashes or hangs into inference threads (see `InjectedFault`). */
  injectFault?: (job: FrameJob, attempt: number) => InjectedFault | undefined;
  /** How long to wait for Redis at start. @defaultValue 30 s */
  redisConnectTimeoutMs?: number;
  /** Tests only: uploader timings (poll, back-off, heartbeat). */
  uploader?: Partial<
    Pick<EventUploaderOptions, 'pollMs' | 'baseBackoffMs' | 'heartbeatMs' | 'requestTimeoutMs' | 'liveShare'>
  >;
}

/** One edge node: the HTTP app plus the frame path behind it. */
export interface EdgeNode {
  app: FastifyInstance;
  config: EdgeConfig;
  logger: Logger;
  metrics: EdgeMetrics;
  pool: InferencePool;
  /** Reads frames, counters and the outbox (on the request connection). */
  repository: FrameRepository;
  queue: FrameQueue;
  threads: ThreadBudget;
  /** The frame queue's consumer (pause/resume it to simulate a node that cannot keep up). */
  processor: FrameProcessor;
  /** Tracking and store analytics over the result outbox. */
  analytics: AnalyticsProcessor;
  analyticsRepository: AnalyticsRepository;
  /** The event outbox as the uploader sees it (totals, cursor). */
  eventOutbox: EventOutboxRepository;
  /** Ships the event outbox to the hub; absent when no `hubUrl` is configured. */
  uploader: EventUploader | undefined;
  /** Sends each analysed camera's latest snapshot to the hub; absent without `hubUrl` or with snapshots off. */
  snapshots: SnapshotUploader | undefined;
  /** Resolves once every model is loaded and warmed up and the frame worker runs. */
  ready: Promise<void>;
  /** Keeps models at the hub's desired versions (hot swap); absent without hub, token and pinned key. */
  modelAgent: ModelAgent | undefined;
  /** The orchestrator agent and the camera ownership it maintains, when `orchestratorUrl` is set. */
  orchestrator?: { agent: OrchestratorAgent; ownership: CameraOwnership; failover: StoreFailover };
  /**
   * Starts the orchestrator agent (no-op without `orchestratorUrl`) once the node listens at
   * `address`: after warm-up it measures throughput, registers, heartbeats and long-polls.
   */
  startAgent(address: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Wires real dependencies (Redis connections, BullMQ queue and worker, inference threads, metrics)
 * into `build()`. Returns as soon as Redis answers and the app is built: models load in the
 * background (`/readyz` says when), so the HTTP side is up and honest while they warm up.
 */
export async function createEdgeNode(config: EdgeConfig, opts: EdgeNodeOptions = {}): Promise<EdgeNode> {
  const logger = opts.logger ?? pino({ level: config.logLevel }).child({ node: config.nodeId });
  if (!config.redisUrl)
    throw new EdgeError(
      'EDGE_ERR_INTERNAL',
      'createEdgeNode needs a redisUrl (server.ts starts an embedded Redis)',
    );
  const retry = (times: number) => Math.min(100 * times, 1000);
  // Requests fail fast (503) while Redis is away instead of queueing in memory.
  const requestRedis = new Redis(config.redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2000,
    retryStrategy: retry,
    connectionName: `${config.nodeId}:requests`,
  });
  // The worker side waits for Redis to come back (BullMQ requires maxRetriesPerRequest: null).
  const workerRedis = new Redis(config.redisUrl, {
    maxRetriesPerRequest: null,
    retryStrategy: retry,
    connectionName: `${config.nodeId}:worker`,
  });
  // The analytics processor blocks on XREAD of the result outbox: a connection of its own.
  const analyticsRedis = new Redis(config.redisUrl, {
    maxRetriesPerRequest: null,
    retryStrategy: retry,
    connectionName: `${config.nodeId}:analytics`,
  });
  for (const r of [requestRedis, workerRedis, analyticsRedis]) {
    r.on('error', (err) => logger.debug({ err, module: 'redis' }, 'redis connection error'));
    defineFrameScripts(r);
  }
  try {
    await waitReady(requestRedis, opts.redisConnectTimeoutMs ?? 30_000);
  } catch (err) {
    requestRedis.disconnect();
    workerRedis.disconnect();
    analyticsRedis.disconnect();
    throw err;
  }

  // Cached hub versions (verified) take the place of the bundled packages: offline restarts.
  const prepared = await prepareModels(config, logger);
  const threads = planThreads({
    cores: config.cores,
    inferenceThreads: config.inferenceThreads,
    intraOpThreads: config.intraOpThreads,
    lightModels: await lightModels(Object.values(prepared.dirs)),
  });
  const bullPrefix = `${config.redisPrefix}:bull`;
  const queue = new FrameQueue({
    connection: requestRedis,
    prefix: bullPrefix,
    attempts: config.frameAttempts,
  });
  const inFlightTtlMs = config.frameTtlMs + config.frameAttempts * config.inferenceTimeoutMs * 2 + 60_000;
  const repoOptions: FrameRepositoryOptions = {
    prefix: config.redisPrefix,
    frameTtlMs: config.frameTtlMs,
    inFlightTtlMs,
    fateTtlMs: inFlightTtlMs + 60_000,
    outboxMaxLen: config.outboxMaxLen,
    snapshotTtlMs: Math.max(2 * config.snapshotIntervalMs, 30_000),
    ...(config.localFrameBytes > 0 ? { local: new LocalFrameBytes(config.localFrameBytes) } : {}),
    threads: threads.inferenceThreads,
    jobSlots: 2 * threads.inferenceThreads,
    // A runner claims again within a frame's time: waiting for its thread, then running the frame
    // (each at most the watchdog's deadline).
    runnerLeaseMs: 2 * config.inferenceTimeoutMs + 10_000,
  };
  const repository = new FrameRepository(requestRedis, repoOptions);
  const workerRepository = new FrameRepository(workerRedis, repoOptions);
  const analyticsOptions = {
    prefix: config.redisPrefix,
    eventRetentionMs: config.eventRetentionMs,
    // Counts of a day stay a week after it (the uploader and the API read recent days only).
    countsTtlMs: 8 * 24 * 3600 * 1000,
  };
  const analyticsRepository = new AnalyticsRepository(requestRedis, analyticsOptions);
  const eventOutbox = new EventOutboxRepository(requestRedis, { prefix: config.redisPrefix });
  const metrics = new EdgeMetrics({
    nodeId: config.nodeId,
    queueDepth: async () => ({ ...(await queue.depth()), due: (await repository.runnerState()).due }),
    eventOutboxLength: () => analyticsRepository.eventCount(),
    eventOutboxTotals: () => eventOutbox.totals(),
  });
  const pool = new InferencePool({
    models: prepared.dirs,
    onModelRun: (model, version, inferMs) => prepared.health.record(model, version, inferMs),
    threads: threads.inferenceThreads,
    intraOpThreads: threads.intraOpThreads,
    sharpConcurrency: threads.sharpConcurrency,
    maxPixels: config.maxPixels,
    timeoutMs: config.inferenceTimeoutMs,
    maxQueued: config.maxQueuedRequestsPerThread * threads.inferenceThreads,
    logger,
    logLevel: config.logLevel,
    onThreadRestart: (reason) => metrics.threadRestarts.inc({ reason }),
  });
  const processor = new FrameProcessor({
    connection: workerRedis,
    prefix: bullPrefix,
    repository: workerRepository,
    queue,
    pool,
    metrics,
    logger,
    nodeId: config.nodeId,
    ...(config.motionGate
      ? {
          motion: {
            pixelThreshold: config.motionThreshold,
            minChangedFraction: config.motionMinArea,
            maxSkipMs: config.motionMaxSkipMs,
          },
        }
      : {}),
    concurrency: threads.inferenceThreads,
    attempts: config.frameAttempts,
    idleMs: config.runnerIdleMs,
    ...(opts.injectFault ? { injectFault: opts.injectFault } : {}),
  });
  // Made once the app is built (it needs the hub token); the analytics processor hands it frames.
  let snapshots: SnapshotUploader | undefined;
  const analytics = new AnalyticsProcessor({
    connection: analyticsRedis,
    repository: new AnalyticsRepository(analyticsRedis, analyticsOptions),
    outboxKey: repository.outboxKey,
    storeId: config.storeId,
    nodeId: config.nodeId,
    timezone: config.timezone,
    metrics,
    logger,
    onSnapshotFrame: (frame) => snapshots?.offer(frame),
  });
  const common = { retryAfterSeconds: config.retryAfterSeconds };
  const inferenceService = new InferenceService({
    pool,
    metrics,
    models: config.models,
    maxPixels: config.maxPixels,
    ...common,
  });
  const analyticsService = new AnalyticsService({
    repository: analyticsRepository,
    processor: analytics,
    models: config.models,
    ...common,
  });
  // With an orchestrator, the cameras this node runs (and their models) come from its assignment.
  const failover: StoreFailover | undefined = config.orchestratorUrl
    ? new StoreFailover({
        nodeId: config.nodeId,
        store: (): NodeAssignment['store'] | undefined => ownership?.assignment?.store,
        probeIntervalMs: config.peerProbeIntervalMs,
        downAfterMs: config.localFailoverMs,
        logger: logger.child({ module: 'store-failover' }),
        // Adopted cameras run their analytics too (configs from the shared plan).
        onChange: () => void agent?.ownersChanged().catch(() => {}),
      })
    : undefined;
  const ownership: CameraOwnership | undefined = failover
    ? new CameraOwnership({
        models: config.models,
        isPeerDown: (nodeId) => failover.isDown(nodeId),
        retryAfterSeconds: config.retryAfterSeconds,
      })
    : undefined;
  const forwarder =
    ownership && config.forwardFrames
      ? new FrameForwarder({
          nodeId: config.nodeId,
          timeoutMs: config.forwardTimeoutMs,
          metrics,
          logger: logger.child({ module: 'frame-forwarder' }),
        })
      : undefined;
  const frameService = new FrameService({
    repository,
    queue,
    metrics,
    models: config.models,
    ...(ownership ? { route: (cameraId: string) => ownership.route(cameraId) } : {}),
    ...(forwarder ? { forwarder } : {}),
    maxPixels: config.maxPixels,
    ...common,
  });
  // Cameras the assignment gives this node with an rtsp:// or http(s):// source are pulled with
  // ffmpeg into the same ingest as pushed frames.
  const pullers = new CameraPullers(
    (cameraId, url, fps) =>
      new CameraPuller({
        cameraId,
        url,
        fps,
        ingest: (jpeg, captureTime) =>
          frameService.ingest({
            cameraId,
            contentType: 'image/jpeg',
            body: jpeg,
            captureTime: String(captureTime),
          }),
        logger: logger.child({ module: 'camera-puller' }),
      }),
  );
  const agent = config.orchestratorUrl
    ? new OrchestratorAgent({
        orchestratorUrl: config.orchestratorUrl,
        nodeId: config.nodeId,
        storeId: config.storeId,
        nodePool: config.nodePool,
        zone: config.zone,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        redis: requestRedis,
        prefix: config.redisPrefix,
        ownership: ownership!,
        analytics: analyticsService,
        metrics,
        logger: logger.child({ module: 'orchestrator-agent' }),
        cores: config.cores,
        onOrchestratorReachable: (ok) => failover?.orchestratorReachable(ok),
        pullers,
      })
    : undefined;
  const app = await build(
    {
      logger,
      metrics,
      frames: frameService,
      results: new ResultService({ repository, ...common }),
      inference: inferenceService,
      health: new HealthService({ redis: requestRedis, pool }),
      analytics: analyticsService,
    },
    config,
  );

  await analytics.start();
  await agent?.restore();
  // The configured token, else the one the model agent enrolled for this node (read each time:
  // it may be written after start). Events and snapshots go with the same token.
  const hubToken = config.hubToken ?? (() => readNodeToken(config));
  const uploader = config.hubUrl
    ? new EventUploader({
        outbox: eventOutbox,
        hubUrl: config.hubUrl,
        hubToken,
        nodeId: config.nodeId,
        storeId: config.storeId,
        timezone: config.timezone,
        metrics,
        logger,
        batchSize: config.uploadBatchSize,
        maxEventsPerSecond: config.uploadMaxEventsPerSecond,
        maxBackoffMs: config.uploadMaxBackoffMs,
        outboxMaxLen: config.eventOutboxMaxLen,
        ...opts.uploader,
      })
    : undefined;
  uploader?.start();
  snapshots =
    config.hubUrl && config.snapshotIntervalMs > 0
      ? new SnapshotUploader({
          frames: repository,
          cameras: () => analytics.cameras(),
          hubUrl: config.hubUrl,
          hubToken,
          nodeId: config.nodeId,
          storeId: config.storeId,
          intervalMs: config.snapshotIntervalMs,
          maxSide: config.snapshotMaxSide,
          blurPeople: config.snapshotBlurPeople,
          metrics,
          logger,
        })
      : undefined;
  snapshots?.start();
  logger.info({ threads, models: config.models }, 'loading models');
  const ready = pool.start().then(async () => {
    // Runners of a process that died before this one rejoin on their next claim; until then they
    // would hold job slots for their whole lease.
    await repository.resetRunners().catch((err) => logger.warn({ err }, 'could not reset the frame runners'));
    processor.start();
    logger.info(
      { models: pool.models.map((m) => ({ name: m.name, version: m.version, eps: m.executionProviders })) },
      'edge node ready',
    );
  });
  ready.catch((err) => logger.error({ err }, 'models failed to load'));
  const modelAgent = prepared.createAgent(pool, {
    onSwap: (model, outcome) => {
      metrics.modelSwaps.inc({ model, outcome });
      if (outcome === 'switched') void remeasure(model);
    },
  });
  /** After a model change, the new version's throughput replaces the old one's in the plan. */
  const remeasure = async (model: string) => {
    if (!agent || !agentStarted || config.throughputProbeMs <= 0) return;
    try {
      await agentStarted;
      const throughput = await measureThroughput({
        inference: inferenceService,
        models: [model],
        concurrency: threads.inferenceThreads,
        durationMs: config.throughputProbeMs,
      });
      logger.info({ model, throughput }, 'throughput re-measured after a model change');
      await agent.updateThroughput(throughput);
    } catch (err) {
      logger.warn({ err, model }, 'could not re-measure throughput after a model change');
    }
  };
  ready.then(() => modelAgent?.start()).catch(() => {});

  let agentStarted: Promise<void> | undefined;
  const startAgent = (address: string) => {
    if (!agent) return Promise.resolve();
    // Register once the models are warm, with a measured throughput per model.
    agentStarted ??= ready
      .then(async () => {
        const throughput =
          config.throughputProbeMs > 0
            ? await measureThroughput({
                inference: inferenceService,
                models: config.models,
                concurrency: threads.inferenceThreads,
                durationMs: config.throughputProbeMs,
              })
            : {};
        const capabilities = await detectCapabilities({
          cores: config.cores,
          models: config.models,
          throughput,
        });
        logger.info(
          { orchestrator: config.orchestratorUrl, address, throughput },
          'registering with the orchestrator',
        );
        agent.start(config.advertiseUrl ?? address, capabilities);
      })
      .catch((err) => logger.error({ err }, 'orchestrator agent did not start'));
    return agentStarted;
  };

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      await modelAgent?.close();
      await agent?.close();
      await pullers.close();
      failover?.close();
      // Requests get 2 s to finish, then connections go (a half-open one would hold close forever).
      await closeServer(app);
      await uploader?.close().catch(() => {});
      await snapshots?.close().catch(() => {});
      await processor.close().catch(() => {});
      await analytics.close().catch(() => {});
      await pool.close();
      await queue.close().catch(() => {});
      requestRedis.disconnect();
      workerRedis.disconnect();
      analyticsRedis.disconnect();
    })();
    return closed;
  };
  return {
    app,
    config,
    logger,
    metrics,
    pool,
    repository,
    queue,
    threads,
    processor,
    analytics,
    analyticsRepository,
    eventOutbox,
    uploader,
    snapshots,
    ready,
    modelAgent,
    ...(agent && ownership && failover ? { orchestrator: { agent, ownership, failover } } : {}),
    startAgent,
    close,
  };
}

/** The node token the model agent enrolled and kept for this node, if any. */
function readNodeToken(config: EdgeConfig): Promise<string | undefined> {
  return readFile(nodeTokenFile(config), 'utf8').then(
    (t) => t.trim() || undefined,
    () => undefined,
  );
}

function waitReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new EdgeError('EDGE_ERR_REDIS_UNAVAILABLE', `no answer from Redis within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}
