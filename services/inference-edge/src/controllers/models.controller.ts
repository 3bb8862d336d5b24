import type { FastifyPluginAsync } from 'fastify';
import { checkContentType } from '../image-check.ts';
import type { InferenceService } from '../services/inference.service.ts';
import { detection, errors, modelParams } from './schemas.ts';

/** `POST /v1/models/{name}/detect` and the Open Inference Protocol (KServe v2) REST endpoints. */
export const modelsController: FastifyPluginAsync<{ inference: InferenceService }> = async (
  app,
  { inference },
) => {
  app.post<{ Params: { name: string } }>(
    '/v1/models/:name/detect',
    {
      // Before the body is read: a JSON or form body must get 415, not a parse error.
      onRequest: async (req) => {
        checkContentType(req.headers['content-type']);
      },
      schema: {
        summary: 'One image in, detections out (synchronous); thresholds overridable in the query',
        tags: ['models'],
        params: modelParams,
        querystring: {
          type: 'object',
          properties: {
            confidence: { type: 'number' },
            iou: { type: 'number' },
            maxDetections: { type: 'integer' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              model: { type: 'string' },
              version: { type: 'string' },
              width: { type: 'integer' },
              height: { type: 'integer' },
              detections: { type: 'array', items: detection },
              timings: {
                type: 'object',
                properties: { decodeMs: { type: 'number' }, inferMs: { type: 'number' } },
              },
            },
          },
          ...errors(400, 404, 413, 415, 503),
        },
      },
    },
    async (req) =>
      inference.detect(req.params.name, {
        contentType: req.headers['content-type'],
        body: req.body,
        query: req.query,
      }),
  );

  app.get<{ Params: { name: string } }>(
    '/v2/models/:name',
    { schema: { summary: 'KServe v2 model metadata', tags: ['v2'], params: modelParams } },
    async (req) => inference.metadataV2(req.params.name),
  );

  app.get<{ Params: { name: string } }>(
    '/v2/models/:name/ready',
    {
      schema: {
        summary: 'KServe v2 model readiness (200 ready, 503 loading)',
        tags: ['v2'],
        params: modelParams,
      },
    },
    async (req, reply) => {
      const ready = inference.modelReady(req.params.name);
      return reply.code(ready ? 200 : 503).send({ name: req.params.name, ready });
    },
  );

  app.post<{ Params: { name: string } }>(
    '/v2/models/:name/infer',
    {
      schema: {
        summary: 'KServe v2 inference with JSON tensors: the model input tensor in, its raw output out',
        tags: ['v2'],
        params: modelParams,
      },
    },
    async (req) => inference.inferV2(req.params.name, req.body),
  );
};
