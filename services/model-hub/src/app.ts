import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { auth } from './auth.ts';
import type { HubConfig } from './config.ts';
import { blobsController } from './controllers/blobs.controller.ts';
import { dashboardController } from './controllers/dashboard.controller.ts';
import { eventsController } from './controllers/events.controller.ts';
import { healthController } from './controllers/health.controller.ts';
import { modelsController } from './controllers/models.controller.ts';
import { nodesController } from './controllers/nodes.controller.ts';
import { rolloutsController } from './controllers/rollouts.controller.ts';
import { snapshotsController } from './controllers/snapshots.controller.ts';
import { storesController } from './controllers/stores.controller.ts';
import { tokensController } from './controllers/tokens.controller.ts';
import { HubError, type HubErrorCode } from './errors.ts';
import type { HubMetrics } from './metrics.ts';
import type { EventIngestService } from './services/event-ingest.service.ts';
import type { HealthService } from './services/health.service.ts';
import type { ModelService } from './services/model.service.ts';
import type { NodeService } from './services/node.service.ts';
import type { RolloutService } from './services/rollout.service.ts';
import type { SnapshotService } from './services/snapshot.service.ts';
import type { StoreMetricsService } from './services/store-metrics.service.ts';
import type { TokenService } from './services/token.service.ts';
import type { SigningKey } from './signing/signing-key.ts';

export interface HubAppDeps {
  logger: Logger;
  metrics: HubMetrics;
  models: ModelService;
  tokens: TokenService;
  health: HealthService;
  signingKey: SigningKey;
  ingest: EventIngestService;
  stores: StoreMetricsService;
  nodes: NodeService;
  rollouts: RolloutService;
  snapshots: SnapshotService;
}

/** Fastify's (and @fastify/multipart's) own errors that reach a client, in the hub's catalogue. */
const FASTIFY_CODES: Record<string, HubErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'HUB_ERR_UPLOAD_TOO_LARGE',
  FST_REQ_FILE_TOO_LARGE: 'HUB_ERR_UPLOAD_TOO_LARGE',
  FST_PARTS_LIMIT: 'HUB_ERR_BAD_REQUEST',
  FST_FILES_LIMIT: 'HUB_ERR_BAD_REQUEST',
  FST_FIELDS_LIMIT: 'HUB_ERR_BAD_REQUEST',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'HUB_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'HUB_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'HUB_ERR_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'HUB_ERR_BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'HUB_ERR_BAD_REQUEST',
};

/** Largest JSON body (aliases, tokens); model files come as multipart, limited separately. */
const JSON_BODY_LIMIT = 1024 * 1024;

/**
 * The hub's HTTP app. Never listens (server.ts does); tests drive it with `app.inject()`.
 * Routes only delegate to the services in `deps`.
 */
export async function build(deps: HubAppDeps, config: HubConfig): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger.child({ module: 'http' }) as FastifyBaseLogger,
    bodyLimit: JSON_BODY_LIMIT,
    // Long names must reach our check (400), not fall out of the router as 404.
    routerOptions: { maxParamLength: 1000 },
  });

  app.setErrorHandler((err: FastifyError | HubError | ZodError, req, reply) => {
    const e = toHubError(err);
    if (e.statusCode >= 500 && !(err instanceof HubError)) req.log.error({ err }, 'request failed');
    else if (e.statusCode >= 500) req.log.warn({ code: e.code, msg: e.message }, 'request failed');
    // An error after part of a download went out cannot become JSON; let the connection drop.
    if (reply.sent) return;
    return reply.code(e.statusCode).send({ code: e.code, message: e.message });
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send({ code: 'HUB_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );
  app.addHook('onResponse', async (req, reply) => {
    deps.metrics.httpRequestSeconds.observe(
      {
        method: req.method,
        route: req.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'storevision model-hub',
        version: '0.1.0',
        description:
          'Versioned, validated, signed ONNX models. Errors are {code, message}; codes in services/model-hub/README.md.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      tags: [
        { name: 'models' },
        { name: 'blobs' },
        { name: 'tokens' },
        { name: 'nodes' },
        { name: 'rollouts' },
        { name: 'events' },
        { name: 'stores' },
        { name: 'health' },
      ],
    },
  });
  await app.register(multipart, {
    limits: {
      fileSize: config.maxUploadBytes,
      files: 2,
      fields: 8,
      fieldSize: JSON_BODY_LIMIT,
      parts: 10,
    },
  });
  await app.register(auth, { tokens: deps.tokens });
  await app.register(modelsController, { models: deps.models, maxUploadBytes: config.maxUploadBytes });
  await app.register(blobsController, { models: deps.models, metrics: deps.metrics });
  await app.register(tokensController, { tokens: deps.tokens, signingKey: deps.signingKey });
  await app.register(healthController, { health: deps.health, metrics: deps.metrics });
  await app.register(eventsController, {
    ingest: deps.ingest,
    snapshots: deps.snapshots,
    maxBatchBytes: config.maxEventBatchBytes,
  });
  await app.register(storesController, { stores: deps.stores });
  await app.register(snapshotsController, { snapshots: deps.snapshots, maxBytes: config.maxSnapshotBytes });
  await app.register(nodesController, { nodes: deps.nodes, pushHeartbeatMs: config.pushHeartbeatMs });
  await app.register(rolloutsController, { rollouts: deps.rollouts });
  await app.register(dashboardController);
  const openapi = { config: { role: 'public' as const }, schema: { hide: true } };
  app.get('/documentation/json', openapi, async () => app.swagger());
  app.get('/openapi.json', openapi, async () => app.swagger());
  return app;
}

function toHubError(err: FastifyError | HubError | ZodError): HubError {
  if (err instanceof HubError) return err;
  if (err instanceof ZodError) return new HubError('HUB_ERR_BAD_REQUEST', err.message, { cause: err });
  const mapped = 'code' in err && typeof err.code === 'string' ? FASTIFY_CODES[err.code] : undefined;
  if (mapped) return new HubError(mapped, err.message, { cause: err });
  if ('validation' in err && err.validation)
    return new HubError('HUB_ERR_BAD_REQUEST', err.message, { cause: err });
  const status = 'statusCode' in err ? err.statusCode : undefined;
  if (status === 413) return new HubError('HUB_ERR_UPLOAD_TOO_LARGE', err.message, { cause: err });
  if (status === 415) return new HubError('HUB_ERR_UNSUPPORTED_MEDIA_TYPE', err.message, { cause: err });
  if (status !== undefined && status >= 400 && status < 500)
    return new HubError('HUB_ERR_BAD_REQUEST', err.message, { cause: err });
  return new HubError('HUB_ERR_INTERNAL', undefined, { cause: err });
}
