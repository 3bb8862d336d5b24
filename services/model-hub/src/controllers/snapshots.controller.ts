import type { FastifyPluginAsync } from 'fastify';
import { HubError } from '../errors.ts';
import type { SnapshotService } from '../services/snapshot.service.ts';
import { storeScope } from '../services/token.service.ts';
import { bearer, errors } from './schemas.ts';

const params = {
  type: 'object',
  properties: { storeId: { type: 'string' }, cameraId: { type: 'string' } },
  required: ['storeId', 'cameraId'],
} as const;

type Params = { storeId: string; cameraId: string };

const snapshotSchema = {
  type: 'object',
  description: 'The snapshot’s facts and overlay; coordinates are normalised to the image (0–1)',
  properties: {
    schemaVersion: { type: 'integer' },
    storeId: { type: 'string' },
    cameraId: { type: 'string' },
    nodeId: { type: 'string' },
    frameId: { type: 'string' },
    capturedAt: { type: 'string' },
    receivedAt: { type: 'string' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    sizeBytes: { type: 'integer' },
    digest: { type: 'string' },
    imageUrl: { type: 'string' },
    configVersion: { type: ['integer', 'null'] },
    blurred: { type: 'boolean' },
    boxes: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          label: { type: 'string' },
          score: { type: 'number' },
          trackId: { type: 'integer' },
          state: { type: 'string', enum: ['tracked', 'lost'] },
          box: {
            type: 'object',
            properties: {
              x1: { type: 'number' },
              y1: { type: 'number' },
              x2: { type: 'number' },
              y2: { type: 'number' },
            },
          },
        },
      },
    },
    zones: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          kind: { type: 'string' },
          polygon: { type: 'array', items: { type: 'array', items: { type: 'number' } } },
          occupancy: { type: 'integer' },
        },
      },
    },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          a: { type: 'array', items: { type: 'number' } },
          b: { type: 'array', items: { type: 'number' } },
          in: { type: 'array', items: { type: 'number' } },
          counts: { type: 'object', properties: { in: { type: 'integer' }, out: { type: 'integer' } } },
        },
      },
    },
  },
} as const;

/**
 * Camera snapshots: edges upload the latest small JPEG of each camera they run with its overlay;
 * dashboards read them. Only the latest per camera is kept.
 */
export const snapshotsController: FastifyPluginAsync<{
  snapshots: SnapshotService;
  maxBytes: number;
}> = async (app, { snapshots, maxBytes }) => {
  app.put<{ Params: Params }>(
    '/v1/stores/:storeId/cameras/:cameraId/snapshot',
    {
      config: { role: 'node' },
      // Refused before the body streams: the wrong store (scope), a body announced far too large.
      preValidation: async (req) => {
        const len = Number(req.headers['content-length']);
        if (Number.isFinite(len) && len > maxBytes + 1024 * 1024)
          throw new HubError('HUB_ERR_UPLOAD_TOO_LARGE', `${len} bytes announced, limit ${maxBytes}`);
        await snapshots.assertWritable(req.params.storeId, req.params.cameraId, storeScope(req.principal));
      },
      schema: {
        summary:
          'Upload a camera’s latest snapshot (from its edge): multipart `meta` (JSON) and `image` (JPEG)',
        description:
          'Body: multipart/form-data. `meta`: {schemaVersion: 1, nodeId, frameId, capturedAt, width, height, configVersion, boxes: ' +
          '[{label, score, trackId?, state?, box: {x1, y1, x2, y2}}], zones: [{id, kind, polygon, occupancy?}], ' +
          'lines: [{id, a, b, in?, counts?}]}, coordinates normalised to the image. `image`: a JPEG of ' +
          'width×height (at most 1280 px a side, `maxSnapshotBytes`). Replaces the camera’s snapshot unless ' +
          'that one is of a newer frame. A node token writes its own stores only (403).',
        tags: ['stores'],
        params,
        consumes: ['multipart/form-data'],
        security: bearer,
        response: { 200: snapshotSchema, ...errors(400, 401, 403, 404, 413, 415) },
      },
    },
    async (req) => {
      let meta: string | undefined;
      let image: Buffer | undefined;
      for await (const part of req.parts({ limits: { fileSize: maxBytes, files: 1, fields: 4, parts: 5 } })) {
        if (part.type === 'file') {
          // Read every file part (the stream stalls otherwise); over the limit throws 413.
          const bytes = await part.toBuffer();
          if (part.fieldname === 'image') image = bytes;
        } else if (part.fieldname === 'meta') {
          if (part.valueTruncated) throw new HubError('HUB_ERR_BAD_SNAPSHOT', '`meta` is too long');
          meta = String(part.value);
        }
      }
      const { storeId, cameraId } = req.params;
      return snapshots.put(storeId, cameraId, { meta, image }, storeScope(req.principal));
    },
  );

  app.get<{ Params: Params }>(
    '/v1/stores/:storeId/cameras/:cameraId/snapshot',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'A camera’s latest snapshot, as image/jpeg (ETag: its digest; If-None-Match answers 304)',
        description:
          'Headers `x-captured-at` (the frame’s capture time) and `x-snapshot-digest`. The overlay is at `…/snapshot/meta`.',
        tags: ['stores'],
        params,
        produces: ['image/jpeg'],
        security: bearer,
        response: { ...errors(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const { storeId, cameraId } = req.params;
      const { record, bytes } = await snapshots.image(storeId, cameraId, storeScope(req.principal));
      const etag = `"${record.digest}"`;
      reply
        .header('etag', etag)
        .header('cache-control', 'private, no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('x-captured-at', record.capturedAt)
        .header('x-snapshot-digest', record.digest);
      if (req.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.type('image/jpeg').send(bytes);
    },
  );

  app.get<{ Params: Params }>(
    '/v1/stores/:storeId/cameras/:cameraId/snapshot/meta',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'A camera’s latest snapshot: when, its size, and the boxes, zones and lines to draw over it',
        tags: ['stores'],
        params,
        security: bearer,
        response: { 200: snapshotSchema, ...errors(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const { storeId, cameraId } = req.params;
      const s = await snapshots.meta(storeId, cameraId, storeScope(req.principal));
      return reply.header('cache-control', 'private, no-cache').send(s);
    },
  );
};
