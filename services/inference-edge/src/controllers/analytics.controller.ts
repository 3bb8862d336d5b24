import type { FastifyPluginAsync } from 'fastify';
import type { AnalyticsService } from '../services/analytics.service.ts';
import { cameraParams, errors } from './schemas.ts';

const point = { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 } as const;

/** Documents the config (the zod schema in contracts is what validates it, with errors naming the field). */
const analyticsConfigDoc = {
  type: 'object',
  description:
    'Zones (normalised polygons), lines (normalised segments with an "in" vector) and operations: occupancy, line_crossing, zone_dwell, queue, alerts. Schema: packages/contracts/src/analytics.ts.',
  properties: {
    anchor: { type: 'string', enum: ['bottom-center', 'center'] },
    labels: { type: 'array', items: { type: 'string' } },
    model: { type: 'string' },
    tracker: { type: 'object', additionalProperties: true },
    zones: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          kind: { type: 'string', enum: ['area', 'shelf', 'queue', 'counter', 'door'] },
          polygon: { type: 'array', items: point },
          inertia: { type: 'integer' },
        },
      },
    },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        properties: { id: { type: 'string' }, a: point, b: point, in: point, inertia: { type: 'integer' } },
      },
    },
    operations: { type: 'array', items: { type: 'object', additionalProperties: true } },
  },
} as const;

/** `/v1/cameras/{cameraId}/analytics…` and `/v1/events`. */
export const analyticsController: FastifyPluginAsync<{ analytics: AnalyticsService }> = async (
  app,
  { analytics },
) => {
  app.put<{ Params: { cameraId: string }; Body: unknown }>(
    '/v1/cameras/:cameraId/analytics/config',
    {
      schema: {
        summary:
          "Set a camera's zones, lines and analytics operations (counts carry over; the version goes up)",
        tags: ['analytics'],
        params: cameraParams,
        body: analyticsConfigDoc,
        response: { ...errors(400, 503) },
      },
      // The body is checked by the contracts' zod schema (errors name the field), not by Ajv.
      validatorCompiler: () => () => true,
    },
    async (req) => analytics.putConfig(req.params.cameraId, req.body),
  );

  app.get<{ Params: { cameraId: string } }>(
    '/v1/cameras/:cameraId/analytics/config',
    {
      schema: {
        summary: "A camera's analytics config and its version",
        tags: ['analytics'],
        params: cameraParams,
        response: { ...errors(400, 404, 503) },
      },
    },
    async (req) => analytics.getConfig(req.params.cameraId),
  );

  app.delete<{ Params: { cameraId: string } }>(
    '/v1/cameras/:cameraId/analytics/config',
    {
      schema: {
        summary: "Stop a camera's analytics (stored counts are kept)",
        tags: ['analytics'],
        params: cameraParams,
        response: { ...errors(400, 404, 503) },
      },
    },
    async (req, reply) => {
      await analytics.deleteConfig(req.params.cameraId);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { cameraId: string } }>(
    '/v1/cameras/:cameraId/analytics',
    {
      schema: {
        summary:
          'Live analytics: tracked people, occupancy per zone, in/out per line since local midnight, queue, active alerts',
        tags: ['analytics'],
        params: cameraParams,
        response: { ...errors(400, 404) },
      },
    },
    async (req) => analytics.state(req.params.cameraId),
  );

  app.get<{ Querystring: { after?: string; limit?: number; camera?: string } }>(
    '/v1/events',
    {
      schema: {
        summary: 'The event outbox, oldest first (page with `after` = the last streamId)',
        tags: ['analytics'],
        querystring: {
          type: 'object',
          properties: {
            after: { type: 'string' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            camera: { type: 'string' },
          },
        },
        response: { ...errors(400, 503) },
      },
    },
    async (req) =>
      analytics.events({
        limit: req.query.limit ?? 100,
        ...(req.query.after ? { after: req.query.after } : {}),
        ...(req.query.camera ? { cameraId: req.query.camera } : {}),
      }),
  );
};
