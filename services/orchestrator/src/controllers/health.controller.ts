import type { FastifyPluginAsync } from 'fastify';
import type { OrchestratorMetrics } from '../metrics.ts';

/** Liveness, readiness and Prometheus metrics. */
export const healthController: FastifyPluginAsync<{
  metrics: OrchestratorMetrics;
  ready: () => boolean;
}> = async (app, { metrics, ready }) => {
  app.get('/healthz', { schema: { summary: 'The process answers', tags: ['health'] } }, async () => ({
    status: 'ok',
  }));
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Ready: the state is loaded and the failover sweep runs (else 503)',
        tags: ['health'],
      },
    },
    async (_req, reply) => {
      const ok = ready();
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready' });
    },
  );
  app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['health'] } }, async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
};
