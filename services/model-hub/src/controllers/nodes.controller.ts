import type { FastifyPluginAsync } from 'fastify';
import { HubError } from '../errors.ts';
import type { NodeService } from '../services/node.service.ts';
import { inScope, storeScope } from '../services/token.service.ts';
import { bearer, errors } from './schemas.ts';

const nodeParams = {
  type: 'object',
  properties: { nodeId: { type: 'string', description: '1–64 of A-Z a-z 0-9 _ . -' } },
  required: ['nodeId'],
} as const;

/** Longest long-poll a node may ask for (`?wait=`, seconds). */
const MAX_WAIT_SECONDS = 60;

/** Edges: enrolment, desired state (long-poll), health reports. */
export const nodesController: FastifyPluginAsync<{ nodes: NodeService }> = async (app, { nodes }) => {
  // Long-polls must not hold the hub's shutdown for their whole wait.
  app.addHook('preClose', async () => nodes.close());

  app.post(
    '/v1/enrolment-tokens',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Issue an enrolment token (exchanged by edges for their own node tokens)',
        tags: ['nodes'],
        body: {
          type: 'object',
          properties: {
            storeId: { type: 'string' },
            maxUses: { type: 'integer' },
            expiresInSeconds: { type: 'integer' },
            label: { type: 'string' },
          },
        },
        security: bearer,
        response: { ...errors(400, 401, 403) },
      },
    },
    async (req, reply) => reply.code(201).send(await nodes.createEnrolmentToken(req.body)),
  );

  app.post(
    '/v1/nodes/enrol',
    {
      config: { role: 'public' },
      schema: {
        summary: 'Exchange an enrolment token for a node token bound to this node id',
        description:
          'The enrolment token is the credential. Re-enrolling a node id revokes its previous token.',
        tags: ['nodes'],
        body: {
          type: 'object',
          properties: {
            enrolmentToken: { type: 'string' },
            nodeId: { type: 'string' },
            storeId: { type: 'string' },
            nodePool: { type: 'string' },
            labels: { type: 'object', additionalProperties: { type: 'string' } },
          },
          required: ['enrolmentToken', 'nodeId', 'storeId'],
        },
        response: { ...errors(400, 401) },
      },
    },
    async (req, reply) => reply.code(201).send(await nodes.enrol(req.body)),
  );

  app.get(
    '/v1/nodes',
    {
      config: { role: 'viewer' },
      schema: { summary: 'Known nodes with their last health report', tags: ['nodes'], security: bearer },
    },
    async (req) => {
      const scope = storeScope(req.principal);
      return { nodes: (await nodes.listNodes()).filter((n) => inScope(scope, n.storeId)) };
    },
  );

  app.get<{ Params: { nodeId: string }; Querystring: { wait?: number } }>(
    '/v1/nodes/:nodeId/models',
    {
      config: { role: 'node' },
      schema: {
        summary: 'The model versions this node should run (ETag; long-poll with If-None-Match and ?wait=)',
        description:
          'Each entry is the signed version record (verify with the pinned hub key before loading). ' +
          `With If-None-Match equal to the current ETag and ?wait=N (≤ ${MAX_WAIT_SECONDS} s), the answer waits ` +
          'until the desired state changes (200) or N seconds pass (304).',
        tags: ['nodes'],
        params: nodeParams,
        querystring: {
          type: 'object',
          properties: { wait: { type: 'integer', minimum: 0, maximum: MAX_WAIT_SECONDS } },
        },
        security: bearer,
        response: { 304: { description: 'not modified', type: 'null' }, ...errors(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const principal = req.principal!;
      const ifNoneMatch = req.headers['if-none-match'];
      const deadline = Date.now() + (req.query.wait ?? 0) * 1000;
      let state = await nodes.desiredState(req.params.nodeId, principal);
      while (ifNoneMatch === state.etag && Date.now() < deadline) {
        await nodes.waitForChange(req.params.nodeId, deadline - Date.now());
        if (req.raw.destroyed) return reply.code(304).send();
        state = await nodes.desiredState(req.params.nodeId, principal);
        if (nodes.closed) break;
      }
      void reply.header('etag', state.etag).header('cache-control', 'no-cache');
      if (ifNoneMatch === state.etag) return reply.code(304).send();
      return state;
    },
  );

  app.put<{ Params: { nodeId: string } }>(
    '/v1/nodes/:nodeId/health',
    {
      config: { role: 'node' },
      schema: {
        summary:
          "A node's per-model health (load state, version, error rate, p50/p99): the rollout gates read it",
        tags: ['nodes'],
        params: nodeParams,
        security: bearer,
        response: { ...errors(400, 401, 403) },
      },
    },
    async (req, reply) => {
      await nodes.reportHealth(req.params.nodeId, req.principal!, req.body);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { nodeId: string } }>(
    '/v1/nodes/:nodeId',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'One node',
        tags: ['nodes'],
        params: nodeParams,
        security: bearer,
        response: { ...errors(404) },
      },
    },
    async (req) => {
      const all = await nodes.listNodes();
      const n = all.find((x) => x.nodeId === req.params.nodeId);
      if (!n || !inScope(storeScope(req.principal), n.storeId))
        throw new HubError('HUB_ERR_NODE_NOT_FOUND', req.params.nodeId);
      return n;
    },
  );
};
