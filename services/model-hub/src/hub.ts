import path from 'node:path';
import { closeServer } from '@storevision/contracts';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { build } from './app.ts';
import { loadBootstrapToken } from './bootstrap-token.ts';
import type { HubConfig } from './config.ts';
import { type HubDb, openDatabase } from './db/database.ts';
import { migrateToLatest } from './db/migrations.ts';
import { HubMetrics } from './metrics.ts';
import { EventRepository } from './repositories/event.repository.ts';
import { ModelRepository } from './repositories/model.repository.ts';
import { RolloutRepository } from './repositories/rollout.repository.ts';
import { SnapshotRepository } from './repositories/snapshot.repository.ts';
import { StoreRepository } from './repositories/store.repository.ts';
import { TokenRepository } from './repositories/token.repository.ts';
import { EventIngestService } from './services/event-ingest.service.ts';
import { HealthService } from './services/health.service.ts';
import { ModelService } from './services/model.service.ts';
import { NodeService } from './services/node.service.ts';
import { RolloutService } from './services/rollout.service.ts';
import { SnapshotService } from './services/snapshot.service.ts';
import { StoreMetricsService } from './services/store-metrics.service.ts';
import { TokenService } from './services/token.service.ts';
import { SigningKey } from './signing/signing-key.ts';
import { type BlobStore, FsBlobStore } from './storage/blob-store.ts';
import { SnapshotStore } from './storage/snapshot-store.ts';
import { type ModelValidator, ProcessModelValidator } from './validation/model-validator.ts';

export interface HubOptions {
  logger?: Logger;
  /** @defaultValue an `FsBlobStore` under `<dataDir>/blobs` */
  blobs?: BlobStore;
  /** @defaultValue a `ProcessModelValidator` with the configured timeout */
  validator?: ModelValidator;
}

/** One model hub: the HTTP app plus what is behind it. */
export interface Hub {
  app: FastifyInstance;
  config: HubConfig;
  logger: Logger;
  metrics: HubMetrics;
  database: HubDb;
  blobs: BlobStore;
  signingKey: SigningKey;
  /** The bootstrap admin token, and the file it is kept in when it was generated. */
  adminToken: { token: string; file?: string };
  /** Store events in (ingest, retention). */
  ingest: EventIngestService;
  /** Stores and their metrics. */
  stores: StoreMetricsService;
  /** Edges (enrolment, health, desired state) and rollouts. */
  nodes: NodeService;
  rollouts: RolloutService;
  /** The latest snapshot of each camera. */
  snapshots: SnapshotService;
  close(): Promise<void>;
}

/**
 * Wires real dependencies (database with migrations applied, blob store, signing key, validator)
 * into `build()`. Does not listen.
 */
export async function createHub(config: HubConfig, opts: HubOptions = {}): Promise<Hub> {
  const logger = opts.logger ?? pino({ level: config.logLevel });
  const database = openDatabase(config.databaseUrl);
  try {
    const applied = await migrateToLatest(database.db);
    if (applied.length > 0) logger.info({ applied, database: database.kind }, 'database migrated');
    const blobs = opts.blobs ?? (await FsBlobStore.open(path.join(config.dataDir, 'blobs')));
    const { key: signingKey, created } = await SigningKey.loadOrCreate(config.signingKeyPath);
    if (created)
      logger.info({ file: config.signingKeyPath, keyId: signingKey.keyId }, 'generated a signing key');
    const adminToken = await loadBootstrapToken(config.adminToken, config.dataDir);
    if (adminToken.created) logger.info({ file: adminToken.file }, 'generated the bootstrap admin token');
    const metrics = new HubMetrics();
    const tokens = new TokenService({
      repository: new TokenRepository(database.db),
      bootstrapToken: adminToken.token,
    });
    const models = new ModelService({
      repository: new ModelRepository(database.db),
      blobs,
      validator: opts.validator ?? new ProcessModelValidator({ timeoutMs: config.validationTimeoutMs }),
      signingKey,
      metrics,
      logger,
    });
    const health = new HealthService({ db: database.db, databaseKind: database.kind });
    const eventRepository = new EventRepository(database.db);
    const ingest = new EventIngestService({
      repository: eventRepository,
      metrics,
      logger,
      retentionMs: config.eventRetentionMs,
      levelHoldMs: config.levelHoldMs,
    });
    const storeRepository = new StoreRepository(database.db);
    const snapshots = new SnapshotService({
      repository: new SnapshotRepository(database.db),
      files: await SnapshotStore.open(path.join(config.dataDir, 'snapshots')),
      stores: storeRepository,
      metrics,
      logger,
    });
    const stores = new StoreMetricsService({
      stores: storeRepository,
      events: eventRepository,
      nodeUpAfterMs: config.nodeUpAfterMs,
    });
    const rolloutRepository = new RolloutRepository(database.db);
    const nodes = new NodeService({ repository: rolloutRepository, models, tokens, logger });
    const rollouts = new RolloutService({
      repository: rolloutRepository,
      models,
      nodes,
      logger,
      tickMs: config.rolloutTickMs,
      nodeTimeoutMs: config.rolloutNodeTimeoutMs,
    });
    // A health report re-evaluates the rollouts at once (the timer is the fallback).
    nodes.onHealth = () => void rollouts.tick().catch((err) => logger.error({ err }, 'rollout tick failed'));
    const app = await build(
      { logger, metrics, models, tokens, health, signingKey, ingest, stores, nodes, rollouts, snapshots },
      config,
    );
    rollouts.start();
    // Retention: a minute after start, then every interval (never overlapping; the timer does not
    // hold the process). A camera that sent no snapshot for as long as events are kept is gone: its
    // picture goes too.
    let retention: NodeJS.Timeout | undefined;
    if (config.eventPruneIntervalMs > 0) {
      const every = config.eventPruneIntervalMs;
      const tick = async () => {
        await ingest.prune().catch((err) => logger.warn({ err }, 'pruning store events failed'));
        await snapshots
          .prune(config.eventRetentionMs)
          .catch((err) => logger.warn({ err }, 'pruning snapshots failed'));
        if (retention) retention = setTimeout(tick, every).unref();
      };
      retention = setTimeout(tick, Math.min(60_000, every)).unref();
    }
    let closed: Promise<void> | undefined;
    const close = () => {
      closed ??= (async () => {
        clearTimeout(retention);
        retention = undefined;
        rollouts.stop();
        // Requests get 2 s to finish, then connections go (a half-open one would hold close forever).
        await closeServer(app);
        await database.close();
      })();
      return closed;
    };
    return {
      app,
      config,
      logger,
      metrics,
      database,
      blobs,
      signingKey,
      adminToken,
      ingest,
      stores,
      nodes,
      rollouts,
      snapshots,
      close,
    };
  } catch (err) {
    await database.close();
    throw err;
  }
}
