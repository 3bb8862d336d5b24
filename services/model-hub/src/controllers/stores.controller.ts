import type { FastifyPluginAsync } from 'fastify';
import type { CompareQuery, MetricsQuery, StoreMetricsService } from '../services/store-metrics.service.ts';
import { storeScope } from '../services/token.service.ts';
import { bearer, errors } from './schemas.ts';

const metricsQuerystring = {
  type: 'object',
  properties: {
    metric: {
      type: 'string',
      description: 'footfall_in | footfall_out | occupancy | dwell | queue_length | queue_wait | alerts',
    },
    from: { type: 'string', description: 'ISO 8601 UTC (default: the store-local midnight of today)' },
    to: { type: 'string', description: 'ISO 8601 UTC, exclusive (default: the end of today)' },
    bucket: {
      type: 'string',
      description: '1m | 5m | 1h | 1d (day buckets start at the store-local midnight)',
    },
    zone: { type: 'string', description: 'one zone (or line, for footfall)' },
    camera: { type: 'string' },
  },
} as const;

/** Stores, their live status and their metrics. */
export const storesController: FastifyPluginAsync<{ stores: StoreMetricsService }> = async (
  app,
  { stores },
) => {
  app.get(
    '/v1/stores',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Stores with live status (nodes up, last event time) and today’s totals',
        tags: ['stores'],
        security: bearer,
      },
    },
    async (req) => ({ stores: await stores.listStores(storeScope(req.principal)) }),
  );

  app.put<{ Params: { storeId: string } }>(
    '/v1/stores/:storeId',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Create or update a store: `{name?, timezone}` (IANA, e.g. Asia/Shanghai)',
        tags: ['stores'],
        params: { type: 'object', properties: { storeId: { type: 'string' } }, required: ['storeId'] },
        security: bearer,
        response: { ...errors(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const { created, store } = await stores.putStore(req.params.storeId, req.body);
      return reply.code(created ? 201 : 200).send({
        storeId: store.id,
        name: store.name,
        timezone: store.timezone,
        createdAt: store.createdAt,
        updatedAt: store.updatedAt,
      });
    },
  );

  app.get<{ Params: { storeId: string }; Querystring: MetricsQuery }>(
    '/v1/stores/:storeId/metrics',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'One metric of a store over time, in buckets, total and per zone/line',
        tags: ['stores'],
        params: { type: 'object', properties: { storeId: { type: 'string' } }, required: ['storeId'] },
        querystring: metricsQuerystring,
        security: bearer,
        response: { ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => stores.metrics(req.params.storeId, req.query, storeScope(req.principal)),
  );

  app.get<{ Params: { storeId: string } }>(
    '/v1/stores/:storeId/cameras',
    {
      config: { role: 'viewer' },
      schema: {
        summary:
          'Cameras of a store (from its events of the last 7 days), each with its owning node and newest event',
        tags: ['stores'],
        params: { type: 'object', properties: { storeId: { type: 'string' } }, required: ['storeId'] },
        security: bearer,
        response: { ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => stores.cameras(req.params.storeId, storeScope(req.principal)),
  );

  app.get<{ Querystring: CompareQuery }>(
    '/v1/metrics/compare',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'One metric across stores (default: every store, the last 7 store-local days, daily)',
        tags: ['stores'],
        querystring: {
          type: 'object',
          properties: {
            metric: metricsQuerystring.properties.metric,
            from: metricsQuerystring.properties.from,
            to: metricsQuerystring.properties.to,
            bucket: metricsQuerystring.properties.bucket,
            stores: { type: 'string', description: 'comma-separated store ids (default: all)' },
          },
        },
        security: bearer,
        response: { ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => stores.compare(req.query, storeScope(req.principal)),
  );
};
