import { FRAME_FORWARDED_BY_HEADER } from '@storevision/contracts';
import type { FastifyPluginAsync } from 'fastify';
import { checkContentType } from '../image-check.ts';
import type { FrameService } from '../services/frame.service.ts';
import type { ResultService } from '../services/result.service.ts';
import { cameraParams, detection, errors } from './schemas.ts';

/** `/v1/cameras/…`: frame ingest, latest detections, per-camera counters. */
export const framesController: FastifyPluginAsync<{ frames: FrameService; results: ResultService }> = async (
  app,
  { frames, results },
) => {
  app.post<{ Params: { cameraId: string } }>(
    '/v1/cameras/:cameraId/frames',
    {
      // Before the body is read: a JSON or form body must get 415, not a parse error.
      onRequest: async (req) => {
        checkContentType(req.headers['content-type']);
      },
      schema: {
        summary: 'Push one camera frame (image/jpeg or image/png body; optional x-capture-time, epoch ms)',
        tags: ['frames'],
        params: cameraParams,
        headers: { type: 'object', properties: { 'x-capture-time': { type: 'string' } } },
        response: {
          202: {
            type: 'object',
            properties: { frameId: { type: 'string' }, cameraId: { type: 'string' } },
          },
          ...errors(400, 413, 415, 421, 503),
        },
      },
    },
    async (req, reply) => {
      // A camera another node runs is forwarded to it (the owner's 202), else 421 + Location.
      const accepted = await frames.ingest({
        cameraId: req.params.cameraId,
        contentType: req.headers['content-type'],
        body: req.body,
        captureTime: headerValue(req.headers['x-capture-time']),
        forwardedBy: headerValue(req.headers[FRAME_FORWARDED_BY_HEADER]),
      });
      return reply.code(202).send(accepted);
    },
  );

  app.get<{ Params: { cameraId: string } }>(
    '/v1/cameras/:cameraId/detections/latest',
    {
      schema: {
        summary: "The camera's newest result, with its drop and failure counts",
        tags: ['frames'],
        params: cameraParams,
        response: {
          200: {
            type: 'object',
            properties: {
              frameId: { type: 'string' },
              cameraId: { type: 'string' },
              nodeId: { type: 'string' },
              captureTime: { type: 'integer' },
              processedAt: { type: 'integer' },
              width: { type: 'integer' },
              height: { type: 'integer' },
              decodeMs: { type: 'number' },
              models: {
                type: 'object',
                additionalProperties: {
                  type: 'object',
                  properties: {
                    version: { type: 'string' },
                    inferMs: { type: 'number' },
                    detections: { type: 'array', items: detection },
                  },
                },
              },
              motion: {
                type: 'object',
                description:
                  "with --motion-gate: the fraction of the picture that moved since the camera's last detected frame, and whether its detections were repeated instead of running the models",
                properties: { moved: { type: 'number' }, reused: { type: 'boolean' } },
              },
              dropped: { type: 'integer' },
              failed: { type: 'integer' },
            },
          },
          ...errors(400, 404, 503),
        },
      },
    },
    async (req) => results.latest(req.params.cameraId),
  );

  app.get<{ Params: { cameraId: string } }>(
    '/v1/cameras/:cameraId/stats',
    {
      schema: {
        summary: 'Per-camera counters: received, processed, dropped (superseded), failed',
        tags: ['frames'],
        params: cameraParams,
        response: {
          200: {
            type: 'object',
            properties: {
              cameraId: { type: 'string' },
              received: { type: 'integer' },
              processed: { type: 'integer' },
              dropped: { type: 'integer' },
              failed: { type: 'integer' },
            },
          },
          ...errors(400, 503),
        },
      },
    },
    async (req) => results.stats(req.params.cameraId),
  );
};

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}
