import type { Rollout } from '@storevision/contracts';
import type { FastifyPluginAsync } from 'fastify';
import { HubError } from '../errors.ts';
import type { RolloutService } from '../services/rollout.service.ts';
import { inScope, storeScope } from '../services/token.service.ts';
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
    async (req) => {
      const scope = storeScope(req.principal);
      return {
        rollouts: (await rollouts.list())
          .map((r) => scopedRollout(r, scope))
          .filter((r): r is Rollout => r !== undefined),
      };
    },
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
    async (req) => {
      const r = scopedRollout(await rollouts.get(req.params.id), storeScope(req.principal));
      // Another tenant's rollout reads as unknown, like another tenant's store.
      if (!r) throw new HubError('HUB_ERR_ROLLOUT_NOT_FOUND', req.params.id);
      return r;
    },
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

/**
 * A rollout as a store-scoped token may see it: only its stores (in the per-store state and the
 * waves), no free-text reason (it can name other stores' nodes); undefined when none of its stores
 * is in it. Unscoped tokens see it whole.
 */
function scopedRollout(r: Rollout, scope: readonly string[] | undefined): Rollout | undefined {
  if (!scope) return r;
  const stores = r.stores.filter((s) => inScope(scope, s.storeId));
  if (stores.length === 0) return undefined;
  return {
    ...r,
    reason: r.reason === null ? null : 'withheld from store-scoped tokens (it may name other stores)',
    waves: r.waves.map((w) => ({ ...w, stores: w.stores.filter((id) => inScope(scope, id)) })),
    stores,
  };
}
