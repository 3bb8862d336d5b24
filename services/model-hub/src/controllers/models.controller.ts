import type { Multipart } from '@fastify/multipart';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { HubError } from '../errors.ts';
import type { ModelService, UploadPart } from '../services/model.service.ts';
import {
  aliasParams,
  bearer,
  errors,
  nameParams,
  publishResult,
  signedVersion,
  versionParams,
} from './schemas.ts';

/** Publish, list and read model versions; move aliases. */
export const modelsController: FastifyPluginAsync<{ models: ModelService; maxUploadBytes: number }> = async (
  app,
  { models, maxUploadBytes },
) => {
  app.post<{ Params: { name: string } }>(
    '/v1/models/:name/versions',
    {
      config: { role: 'publisher' },
      // After auth (onRequest hooks run in order; auth is registered first), before the body is read:
      // an announced body far over the limit is refused without receiving it.
      onRequest: async (req) => {
        const len = Number(req.headers['content-length']);
        if (Number.isFinite(len) && len > maxUploadBytes + 2 * 1024 * 1024)
          throw new HubError('HUB_ERR_UPLOAD_TOO_LARGE', `${len} bytes announced, limit ${maxUploadBytes}`);
        if (!/^multipart\/form-data\s*;/i.test(req.headers['content-type'] ?? ''))
          throw new HubError(
            'HUB_ERR_UNSUPPORTED_MEDIA_TYPE',
            'send multipart/form-data with a `model` file part',
          );
      },
      schema: {
        summary: 'Publish a version: multipart `model` (ONNX file), `manifest` (JSON), `version`',
        description:
          'The file streams to disk while it is hashed; the hub validates it (ONNX parse, onnxruntime load, ' +
          'manifest vs graph) before anything is stored. Without a manifest, an Ultralytics export is ' +
          'imported from its metadata. Same version with the same bytes and manifest: 200 (idempotent); ' +
          'with other bytes: 409.',
        tags: ['models'],
        params: nameParams,
        consumes: ['multipart/form-data'],
        security: bearer,
        response: {
          200: publishResult,
          201: publishResult,
          ...errors(400, 401, 403, 409, 413, 415, 422, 503),
        },
      },
    },
    async (req, reply) => {
      const out = await models.publish(req.params.name, uploadParts(req), req.principal!);
      return reply.code(out.status).send(out.body);
    },
  );

  app.get(
    '/v1/models',
    {
      config: { role: 'viewer' },
      schema: { summary: 'Models with their latest version and aliases', tags: ['models'], security: bearer },
    },
    async () => ({ models: await models.listModels() }),
  );

  app.get<{ Params: { name: string } }>(
    '/v1/models/:name/versions',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Versions of a model, newest first',
        tags: ['models'],
        params: nameParams,
        security: bearer,
        response: { ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => ({ name: req.params.name, versions: await models.listVersions(req.params.name) }),
  );

  app.get<{ Params: { name: string; ref: string } }>(
    '/v1/models/:name/versions/:ref',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'One version (by version or alias): manifest, digest, signature',
        tags: ['models'],
        params: versionParams,
        security: bearer,
        response: { 200: signedVersion, ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => models.getVersion(req.params.name, req.params.ref),
  );

  app.put<{ Params: { name: string; alias: string }; Body: { version?: unknown } }>(
    '/v1/models/:name/aliases/:alias',
    {
      config: { role: 'publisher' },
      schema: {
        summary: 'Point an alias (stable, canary, …) at a version',
        tags: ['models'],
        params: aliasParams,
        body: { type: 'object', properties: { version: { type: 'string' } }, required: ['version'] },
        security: bearer,
        response: { ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => models.setAlias(req.params.name, req.params.alias, req.body.version),
  );
};

/** The request's multipart parts as the service's `UploadPart`s. */
async function* uploadParts(req: FastifyRequest): AsyncGenerator<UploadPart> {
  for await (const part of req.parts() as AsyncIterable<Multipart>) {
    if (part.type === 'file') {
      yield {
        kind: 'file',
        field: part.fieldname,
        fileName: part.filename,
        stream: part.file,
        truncated: () => part.file.truncated,
      };
    } else {
      yield { kind: 'field', field: part.fieldname, value: String(part.value) };
    }
  }
}
