import type { FastifyPluginAsync } from 'fastify';
import type { EdgeMetrics } from '../metrics.ts';
import type { HealthService } from '../services/health.service.ts';

/** Liveness, readiness (ours and KServe v2's) and Prometheus metrics. */
export const healthController: FastifyPluginAsync<{ health: HealthService; metrics: EdgeMetrics }> = async (
  app,
  { health, metrics },
) => {
  const live = { schema: { summary: 'The process answers', tags: ['health'] } };
  app.get('/healthz', live, async () => ({ status: 'ok' }));
  app.get('/v2/health/live', live, async () => ({ live: true }));

  const readySchema = {
    schema: {
      summary: 'Ready: every model loaded and warmed up, and Redis answers (else 503)',
      tags: ['health'],
    },
  };
  app.get('/readyz', readySchema, async (_req, reply) => {
    const r = await health.readiness();
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', ...r });
  });
  app.get('/v2/health/ready', readySchema, async (_req, reply) => {
    const r = await health.readiness();
    return reply.code(r.ready ? 200 : 503).send({ ready: r.ready });
  });

  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['health'] } },
    async (_req, reply) => {
      const body = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(body);
    },
  );
};
