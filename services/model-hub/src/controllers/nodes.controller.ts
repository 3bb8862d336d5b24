import type { DesiredState } from '@storevision/contracts';
import type { FastifyPluginAsync } from 'fastify';
import { HubError } from '../errors.ts';
import type { NodeService } from '../services/node.service.ts';
import { inScope, storeScope } from '../services/token.service.ts';
import { EventStreams } from './event-streams.ts';
import { bearer, errors } from './schemas.ts';

const nodeParams = {
  type: 'object',
  properties: { nodeId: { type: 'string', description: '1–64 of A-Z a-z 0-9 _ . -' } },
  required: ['nodeId'],
} as const;

/** Longest long-poll a node may ask for (`?wait=`, seconds). */
const MAX_WAIT_SECONDS = 60;

/**
 * Push channel heartbeat by default (`pushHeartbeatMs`): a comment this often, so proxies keep the
 * stream open and an edge can tell a dead or buffered stream from a quiet one; the state is re-read
 * at each one too.
 */
const PUSH_HEARTBEAT_MS = 15_000;
/** `retry:` of the push channel: how long an edge waits before reconnecting a closed stream. */
const PUSH_RETRY_MS = 3000;

/** Edges: enrolment, desired state (push over SSE, long-poll), health reports. */
export const nodesController: FastifyPluginAsync<{ nodes: NodeService; pushHeartbeatMs?: number }> = async (
  app,
  { nodes, pushHeartbeatMs = PUSH_HEARTBEAT_MS },
) => {
  // Push streams, ended when the hub closes; long-polls must not hold the shutdown either.
  const streams = new EventStreams(app);
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
          'until the desired state changes (200) or N seconds pass (304). Edges use the push channel ' +
          '(GET /v1/nodes/{nodeId}/models/events) first and this long-poll as its fallback.',
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

  app.get<{ Params: { nodeId: string } }>(
    '/v1/nodes/:nodeId/models/events',
    {
      config: { role: 'node' },
      schema: {
        summary: 'Push channel: the desired state as server-sent events, sent again whenever it changes',
        description:
          'text/event-stream. Each `desired-state` event carries the same body as GET /v1/nodes/{nodeId}/models, ' +
          'with the ETag as its `id`. The current state is sent on connect unless `Last-Event-ID` equals its ETag, ' +
          'so a reconnecting edge misses no change and gets no repeat. `retry: 3000`; a `: keep-alive` comment ' +
          `every ${pushHeartbeatMs / 1000} s (HUB_PUSH_HEARTBEAT_MS). Edges fall back to the long-poll when this route is missing (404) or ` +
          'the stream does not come through (a proxy that buffers or strips it).',
        tags: ['nodes'],
        params: nodeParams,
        headers: {
          type: 'object',
          properties: {
            'last-event-id': { type: 'string', description: 'the ETag of the state the edge has' },
          },
        },
        security: bearer,
        response: {
          200: {
            description:
              'an event stream (`event: desired-state`, `id: <ETag>`, `data: <DesiredState JSON>`)',
            content: {
              'text/event-stream': {
                schema: {
                  type: 'string',
                  example:
                    'retry: 3000\n\nid: "3f…"\nevent: desired-state\ndata: {"nodeId":"s1-a","etag":"\\"3f…\\"","models":[…]}\n\n: keep-alive\n\n',
                },
              },
            },
          },
          ...errors(400, 401, 403),
        },
      },
    },
    async (req, reply) => {
      const { nodeId } = req.params;
      const principal = req.principal!;
      // Read before the stream opens: a bad node id or another node's token gets a JSON error.
      const first = await nodes.desiredState(nodeId, principal);
      const lastEventId = req.headers['last-event-id'];
      let ended = false;
      let unsubscribe = () => {};
      // The state is re-read at each heartbeat too (a missed notice costs one heartbeat at most).
      const res = streams.open(reply, {
        retryMs: PUSH_RETRY_MS,
        keepAliveMs: pushHeartbeatMs,
        onKeepAlive: () => reread(),
        onClose: () => {
          ended = true;
          unsubscribe();
        },
      });
      let sentEtag = typeof lastEventId === 'string' ? lastEventId : undefined;
      const send = (state: DesiredState) => {
        if (ended || state.etag === sentEtag) return;
        sentEtag = state.etag;
        res.write(`id: ${state.etag}\nevent: desired-state\ndata: ${JSON.stringify(state)}\n\n`);
      };
      send(first);
      // One read at a time; a change during a read is read again after it (the last one wins).
      let reading: Promise<void> | undefined;
      let again = false;
      const reread = () => {
        if (ended || nodes.closed) return;
        if (reading) {
          again = true;
          return;
        }
        reading = (async () => {
          do {
            again = false;
            try {
              send(await nodes.desiredState(nodeId, principal));
            } catch (err) {
              // A revoked binding or a database hiccup: end the stream; the edge reconnects and
              // gets the error (or the state) as JSON.
              req.log.warn({ err, nodeId }, 'push stream ended: desired state unreadable');
              res.end();
              return;
            }
          } while (again && !ended);
        })().finally(() => {
          reading = undefined;
        });
      };
      if (!ended) unsubscribe = nodes.subscribe(nodeId, reread);
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
