import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { build } from './app.ts';
import { loadBootstrapToken } from './bootstrap-token.ts';
import type { HubConfig } from './config.ts';
import { type HubDb, openDatabase } from './db/database.ts';
import { migrateToLatest } from './db/migrations.ts';
import { HubMetrics } from './metrics.ts';
import { ModelRepository } from './repositories/model.repository.ts';
import { TokenRepository } from './repositories/token.repository.ts';
import { HealthService } from './services/health.service.ts';
import { ModelService } from './services/model.service.ts';
import { TokenService } from './services/token.service.ts';
import { SigningKey } from './signing/signing-key.ts';
import { type BlobStore, FsBlobStore } from './storage/blob-store.ts';
import { type ModelValidator, WorkerModelValidator } from './validation/model-validator.ts';

export interface HubOptions {
  logger?: Logger;
  /** @defaultValue an `FsBlobStore` under `<dataDir>/blobs` */
  blobs?: BlobStore;
  /** @defaultValue a `WorkerModelValidator` with the configured timeout */
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
      validator: opts.validator ?? new WorkerModelValidator({ timeoutMs: config.validationTimeoutMs }),
      signingKey,
      metrics,
      logger,
    });
    const health = new HealthService({ db: database.db, databaseKind: database.kind });
    const app = await build({ logger, metrics, models, tokens, health, signingKey }, config);
    let closed: Promise<void> | undefined;
    const close = () => {
      closed ??= (async () => {
        await app.close();
        await database.close();
      })();
      return closed;
    };
    return { app, config, logger, metrics, database, blobs, signingKey, adminToken, close };
  } catch (err) {
    await database.close();
    throw err;
  }
}
