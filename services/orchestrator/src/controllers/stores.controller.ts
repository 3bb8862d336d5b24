import type { FastifyPluginAsync } from 'fastify';
import type { InventoryService } from '../services/inventory.service.ts';
import type { OrchestratorRepositoryView } from '../services/views.ts';

const cameraParams = {
  type: 'object',
  properties: { storeId: { type: 'string' }, cameraId: { type: 'string' } },
  required: ['storeId', 'cameraId'],
} as const;

/** Cameras of a store, model requirements and the placements. Routes only delegate. */
export const storesController: FastifyPluginAsync<{
  inventory: InventoryService;
  views: OrchestratorRepositoryView;
}> = async (app, { inventory, views }) => {
  app.put<{ Params: { storeId: string; cameraId: string } }>(
    '/v1/stores/:storeId/cameras/:cameraId',
    {
      schema: {
        summary: 'Add or change a camera: source (push, rtsp://, http://), fps, resolution, pipelines',
        tags: ['cameras'],
        params: cameraParams,
      },
    },
    async (req, reply) => {
      const r = inventory.putCamera(req.params.storeId, req.params.cameraId, req.body);
      return reply.code(r.created ? 201 : 200).send(r.camera);
    },
  );
  app.delete<{ Params: { storeId: string; cameraId: string } }>(
    '/v1/stores/:storeId/cameras/:cameraId',
    { schema: { summary: 'Remove a camera', tags: ['cameras'], params: cameraParams } },
    async (req, reply) => {
      inventory.deleteCamera(req.params.storeId, req.params.cameraId);
      return reply.code(204).send();
    },
  );
  app.get<{ Params: { storeId: string } }>(
    '/v1/stores/:storeId/cameras',
    {
      schema: {
        summary: 'Cameras of a store',
        tags: ['cameras'],
        params: { type: 'object', properties: { storeId: { type: 'string' } }, required: ['storeId'] },
      },
    },
    async (req) => ({ cameras: inventory.listCameras(req.params.storeId) }),
  );
  app.put<{ Params: { model: string } }>(
    '/v1/models/:model/requirements',
    {
      schema: {
        summary: 'What a model needs of a node: memory, EPs, arch, GPU preference, calibrated cost estimates',
        tags: ['models'],
        params: { type: 'object', properties: { model: { type: 'string' } }, required: ['model'] },
      },
    },
    async (req) => inventory.putRequirements(req.params.model, req.body),
  );
  app.get<{ Params: { model: string } }>(
    '/v1/models/:model/requirements',
    {
      schema: {
        summary: 'A model’s requirements (defaults when none were set)',
        tags: ['models'],
        params: { type: 'object', properties: { model: { type: 'string' } }, required: ['model'] },
      },
    },
    async (req) => inventory.getRequirements(req.params.model),
  );
  app.get<{ Querystring: { store?: string } }>(
    '/v1/placements',
    {
      schema: {
        summary:
          'Current plan of every store: placed pipelines with fps and load, and exactly what was shed and why',
        tags: ['placements'],
        querystring: { type: 'object', properties: { store: { type: 'string' } } },
      },
    },
    async (req) => ({ placements: views.placements(req.query.store) }),
  );
};
