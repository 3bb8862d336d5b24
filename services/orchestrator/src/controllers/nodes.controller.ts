import type { FastifyPluginAsync } from 'fastify';
import { OrchError } from '../errors.ts';
import type { InventoryService } from '../services/inventory.service.ts';
import { assignmentEtag, type PlacementService, parseIfNoneMatch } from '../services/placement.service.ts';

const nodeParams = {
  type: 'object',
  properties: { nodeId: { type: 'string' } },
  required: ['nodeId'],
} as const;

/** Node inventory and the per-node desired state. Routes only delegate. */
export const nodesController: FastifyPluginAsync<{
  inventory: InventoryService;
  placement: PlacementService;
  maxWaitSeconds: number;
}> = async (app, { inventory, placement, maxWaitSeconds }) => {
  app.put<{ Params: { nodeId: string } }>(
    '/v1/nodes/:nodeId',
    {
      schema: {
        summary:
          'Register a node or heartbeat: address, labels (store, nodePool, zone), capabilities, live load',
        tags: ['nodes'],
        params: nodeParams,
      },
    },
    async (req, reply) => {
      const r = inventory.putNode(req.params.nodeId, req.body);
      return reply.code(r.created ? 201 : 200).send({ ...r.node, assignmentVersion: r.assignmentVersion });
    },
  );

  app.get<{ Querystring: { store?: string } }>(
    '/v1/nodes',
    {
      schema: {
        summary: 'Every known node with its status (ready/lost) and planned utilisation',
        tags: ['nodes'],
        querystring: { type: 'object', properties: { store: { type: 'string' } } },
      },
    },
    async (req) => ({ nodes: inventory.listNodes(req.query.store ? { store: req.query.store } : {}) }),
  );

  app.get<{ Params: { nodeId: string }; Querystring: { wait?: string } }>(
    '/v1/nodes/:nodeId/assignment',
    {
      schema: {
        summary:
          'Desired state of one node (cameras, pipelines, fps, analytics configs). ETag is the version; with If-None-Match and ?wait=SECONDS it long-polls and answers 304 when nothing changed',
        tags: ['nodes'],
        params: nodeParams,
        querystring: { type: 'object', properties: { wait: { type: 'string' } } },
      },
    },
    async (req, reply) => {
      const wait = req.query.wait === undefined ? 0 : Number(req.query.wait);
      if (!Number.isFinite(wait) || wait < 0)
        throw new OrchError('ORCH_ERR_BAD_REQUEST', 'wait must be a number of seconds ≥ 0');
      const known = parseIfNoneMatch(req.headers['if-none-match']);
      const waitMs = Math.min(wait, maxWaitSeconds) * 1000;
      const r = await placement.waitAssignment(req.params.nodeId, known, waitMs);
      void reply.header('etag', assignmentEtag(r.assignment.version)).header('cache-control', 'no-cache');
      if (!r.changed) return reply.code(304).send();
      return r.assignment;
    },
  );
};
