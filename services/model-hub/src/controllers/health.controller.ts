import type { FastifyPluginAsync } from 'fastify';
import type { HubMetrics } from '../metrics.ts';
import type { HealthService } from '../services/health.service.ts';

/** Liveness, readiness and Prometheus metrics (no token: probes and scrapers have none). */
export const healthController: FastifyPluginAsync<{ health: HealthService; metrics: HubMetrics }> = async (
  app,
  { health, metrics },
) => {
  const pub = { role: 'public' } as const;
  app.get(
    '/healthz',
    { config: pub, schema: { summary: 'The process answers', tags: ['health'] } },
    async () => ({
      status: 'ok',
    }),
  );
  app.get(
    '/readyz',
    { config: pub, schema: { summary: 'Ready: the metadata database answers (else 503)', tags: ['health'] } },
    async (_req, reply) => {
      const r = await health.readiness();
      return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', ...r });
    },
  );
  app.get(
    '/metrics',
    { config: pub, schema: { summary: 'Prometheus metrics', tags: ['health'] } },
    async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
};
