import type { FastifyPluginAsync } from 'fastify';
import type { RolloutService } from '../services/rollout.service.ts';
import { bearer, errors } from './schemas.ts';

const idParams = {
  type: 'object',
  properties: { id: { type: 'string' } },
  required: ['id'],
} as const;

/** Rollouts: create, read, pause, promote, roll back. */
export const rolloutsController: FastifyPluginAsync<{ rollouts: RolloutService }> = async (
  app,
  { rollouts },
) => {
  app.addHook('preClose', async () => rollouts.stop());

  app.post(
    '/v1/rollouts',
    {
      config: { role: 'publisher' },
      schema: {
        summary: 'Roll a version out to stores in waves, gated on the edges’ health',
        description:
          '{model, version|alias, target: {stores|nodePools|labels}, waves: [{percent|stores, holdSeconds}], ' +
          'health: {maxErrorRate, maxP99LatencyMs}}. Percent waves are cumulative shares of the target stores.',
        tags: ['rollouts'],
        body: { type: 'object', additionalProperties: true },
        security: bearer,
        response: { ...errors(400, 401, 403, 404, 409, 422) },
      },
    },
    async (req, reply) => reply.code(201).send(await rollouts.create(req.body, req.principal!)),
  );

  app.get(
    '/v1/rollouts',
    {
      config: { role: 'viewer' },
      schema: { summary: 'Recent rollouts', tags: ['rollouts'], security: bearer },
    },
    async () => ({ rollouts: await rollouts.list() }),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/rollouts/:id',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'A rollout with its per-store and per-node state',
        tags: ['rollouts'],
        params: idParams,
        security: bearer,
        response: { ...errors(401, 403, 404) },
      },
    },
    async (req) => rollouts.get(req.params.id),
  );

  for (const action of ['pause', 'promote', 'rollback'] as const) {
    app.post<{ Params: { id: string } }>(
      `/v1/rollouts/:id/${action}`,
      {
        config: { role: 'publisher' },
        schema: {
          summary:
            action === 'pause'
              ? 'Stop advancing (nodes keep what they run)'
              : action === 'promote'
                ? 'Resume a paused rollout, or end the current wave’s hold now'
                : 'Send every node the rollout moved back to its previous version',
          tags: ['rollouts'],
          params: idParams,
          security: bearer,
          response: { ...errors(401, 403, 404, 409) },
        },
      },
      async (req) =>
        action === 'pause'
          ? rollouts.pause(req.params.id, req.principal!)
          : action === 'promote'
            ? rollouts.promote(req.params.id)
            : rollouts.rollback(req.params.id, req.principal!),
    );
  }
};
