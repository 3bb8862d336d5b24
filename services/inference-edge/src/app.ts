import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import type { EdgeConfig } from './config.ts';
import { analyticsController } from './controllers/analytics.controller.ts';
import { framesController } from './controllers/frames.controller.ts';
import { healthController } from './controllers/health.controller.ts';
import { modelsController } from './controllers/models.controller.ts';
import { EdgeError, type EdgeErrorCode } from './errors.ts';
import { IMAGE_CONTENT_TYPES } from './image-check.ts';
import type { EdgeMetrics } from './metrics.ts';
import type { AnalyticsService } from './services/analytics.service.ts';
import type { FrameService } from './services/frame.service.ts';
import type { HealthService } from './services/health.service.ts';
import type { InferenceService } from './services/inference.service.ts';
import type { ResultService } from './services/result.service.ts';

export interface EdgeAppDeps {
  logger: Logger;
  metrics: EdgeMetrics;
  frames: FrameService;
  results: ResultService;
  inference: InferenceService;
  health: HealthService;
  analytics: AnalyticsService;
}

/** Fastify's own errors that reach a client, in the edge's catalogue. */
const FASTIFY_CODES: Record<string, EdgeErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'EDGE_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'EDGE_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'EDGE_ERR_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'EDGE_ERR_BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'EDGE_ERR_BAD_REQUEST',
};

/**
 * The edge's HTTP app. Never listens (server.ts does); tests drive it with `app.inject()`.
 * Routes only delegate to the services in `deps`.
 */
export async function build(deps: EdgeAppDeps, config: EdgeConfig): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the app's type the default one.
    loggerInstance: deps.logger.child({ module: 'http' }) as FastifyBaseLogger,
    bodyLimit: config.bodyLimitBytes,
    // Long camera ids must reach our check (400), not fall out of the router as 404.
    routerOptions: { maxParamLength: 1000 },
    // Per-request lines at camera frame rates drown the log; durations are in the metrics instead.
    logController: new LogController({ disableRequestLogging: true }),
  });

  app.addContentTypeParser([...IMAGE_CONTENT_TYPES], { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  );

  app.setErrorHandler((err: FastifyError | EdgeError | ZodError, req, reply) => {
    const e = toEdgeError(err);
    if (e.statusCode >= 500 && !(err instanceof EdgeError)) req.log.error({ err }, 'request failed');
    else if (e.statusCode >= 500) req.log.warn({ code: e.code, msg: e.message }, 'request failed');
    if (e.retryAfterSeconds !== undefined) void reply.header('retry-after', String(e.retryAfterSeconds));
    if (e.location !== undefined) void reply.header('location', e.location);
    return reply.code(e.statusCode).send({ code: e.code, message: e.message });
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send({ code: 'EDGE_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
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
        title: 'storevision inference-edge',
        version: '0.1.0',
        description:
          'Frames in, detections out. Errors are {code, message}; codes in services/inference-edge/README.md.',
      },
      tags: [
        { name: 'frames' },
        { name: 'analytics' },
        { name: 'models' },
        { name: 'v2' },
        { name: 'health' },
      ],
    },
  });
  await app.register(framesController, { frames: deps.frames, results: deps.results });
  await app.register(analyticsController, { analytics: deps.analytics });
  await app.register(modelsController, { inference: deps.inference });
  await app.register(healthController, { health: deps.health, metrics: deps.metrics });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

function toEdgeError(err: FastifyError | EdgeError | ZodError): EdgeError {
  if (err instanceof EdgeError) return err;
  if (err instanceof ZodError) return new EdgeError('EDGE_ERR_BAD_REQUEST', err.message, { cause: err });
  const mapped = 'code' in err && typeof err.code === 'string' ? FASTIFY_CODES[err.code] : undefined;
  if (mapped) return new EdgeError(mapped, err.message, { cause: err });
  if ('validation' in err && err.validation)
    return new EdgeError('EDGE_ERR_BAD_REQUEST', err.message, { cause: err });
  const status = 'statusCode' in err ? err.statusCode : undefined;
  if (status === 413) return new EdgeError('EDGE_ERR_BODY_TOO_LARGE', err.message, { cause: err });
  if (status === 415) return new EdgeError('EDGE_ERR_UNSUPPORTED_MEDIA_TYPE', err.message, { cause: err });
  if (status !== undefined && status >= 400 && status < 500)
    return new EdgeError('EDGE_ERR_BAD_REQUEST', err.message, { cause: err });
  return new EdgeError('EDGE_ERR_INTERNAL', undefined, { cause: err });
}
