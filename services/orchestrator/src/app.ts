import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import type { OrchestratorConfig } from './config.ts';
import { healthController } from './controllers/health.controller.ts';
import { nodesController } from './controllers/nodes.controller.ts';
import { storesController } from './controllers/stores.controller.ts';
import { OrchError, type OrchErrorCode } from './errors.ts';
import type { OrchestratorMetrics } from './metrics.ts';
import type { InventoryService } from './services/inventory.service.ts';
import type { PlacementService } from './services/placement.service.ts';
import type { OrchestratorRepositoryView } from './services/views.ts';

export interface OrchestratorAppDeps {
  logger: Logger;
  metrics: OrchestratorMetrics;
  inventory: InventoryService;
  placement: PlacementService;
  views: OrchestratorRepositoryView;
  ready: () => boolean;
}

const FASTIFY_CODES: Record<string, OrchErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'ORCH_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ORCH_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'ORCH_ERR_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'ORCH_ERR_BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'ORCH_ERR_BAD_REQUEST',
};

/**
 * The orchestrator's HTTP app. Never listens (server.ts does); tests drive it with `app.inject()`.
 * Routes only delegate to the services in `deps`.
 */
export async function build(deps: OrchestratorAppDeps, config: OrchestratorConfig): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger.child({ module: 'http' }) as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: 1000 },
    // Heartbeats and long-polls of every node would drown the log; durations are in the metrics.
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.setErrorHandler((err: FastifyError | OrchError | ZodError, req, reply) => {
    const e = toOrchError(err);
    if (e.statusCode >= 500 && !(err instanceof OrchError)) req.log.error({ err }, 'request failed');
    return reply.code(e.statusCode).send({ code: e.code, message: e.message });
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send({ code: 'ORCH_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
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
  // Long-polls end at once on shutdown instead of holding app.close() for their full wait.
  app.addHook('preClose', async () => deps.placement.close());
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'storevision orchestrator',
        version: '0.1.0',
        description:
          'Node and camera inventory, placement, failover. Errors are {code, message}; codes in services/orchestrator/README.md.',
      },
      tags: [
        { name: 'nodes' },
        { name: 'cameras' },
        { name: 'models' },
        { name: 'placements' },
        { name: 'health' },
      ],
    },
  });
  await app.register(nodesController, {
    inventory: deps.inventory,
    placement: deps.placement,
    maxWaitSeconds: config.maxWaitSeconds,
  });
  await app.register(storesController, { inventory: deps.inventory, views: deps.views });
  await app.register(healthController, { metrics: deps.metrics, ready: deps.ready });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

function toOrchError(err: FastifyError | OrchError | ZodError): OrchError {
  if (err instanceof OrchError) return err;
  if (err instanceof ZodError) return new OrchError('ORCH_ERR_BAD_REQUEST', err.message, { cause: err });
  const mapped = 'code' in err && typeof err.code === 'string' ? FASTIFY_CODES[err.code] : undefined;
  if (mapped) return new OrchError(mapped, err.message, { cause: err });
  const status = 'statusCode' in err ? err.statusCode : undefined;
  if (status === 413) return new OrchError('ORCH_ERR_BODY_TOO_LARGE', err.message, { cause: err });
  if (status === 415) return new OrchError('ORCH_ERR_UNSUPPORTED_MEDIA_TYPE', err.message, { cause: err });
  if (status !== undefined && status >= 400 && status < 500)
    return new OrchError('ORCH_ERR_BAD_REQUEST', err.message, { cause: err });
  return new OrchError('ORCH_ERR_INTERNAL', undefined, { cause: err });
}
