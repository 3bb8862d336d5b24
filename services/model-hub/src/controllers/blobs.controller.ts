import type { FastifyPluginAsync } from 'fastify';
import { HubError } from '../errors.ts';
import type { HubMetrics } from '../metrics.ts';
import type { ModelService } from '../services/model.service.ts';
import { bearer, errors } from './schemas.ts';

/**
 * `GET /v1/blobs/{digest}`: content-addressed model bytes for edges. Blobs never change, so the
 * digest is a strong ETag, `If-None-Match` answers 304, and a single `Range` answers 206 (a
 * download cut on a weak store link resumes where it stopped). Several ranges in one request are
 * answered with the whole blob, which RFC 9110 allows.
 */
export const blobsController: FastifyPluginAsync<{ models: ModelService; metrics: HubMetrics }> = async (
  app,
  { models, metrics },
) => {
  app.get<{ Params: { digest: string } }>(
    '/v1/blobs/:digest',
    {
      config: { role: 'node' },
      schema: {
        summary: 'Download a model file by digest (Range, ETag, If-None-Match)',
        tags: ['blobs'],
        params: {
          type: 'object',
          properties: { digest: { type: 'string', description: 'sha256:<64 hex digits>' } },
          required: ['digest'],
        },
        security: bearer,
        response: {
          200: { description: 'the whole blob', type: 'string', format: 'binary' },
          206: { description: 'the requested range', type: 'string', format: 'binary' },
          304: { description: 'not modified', type: 'null' },
          ...errors(400, 401, 403, 404, 416),
        },
      },
    },
    async (req, reply) => {
      const { digest } = req.params;
      const { sizeBytes } = await models.blobInfo(digest);
      const etag = `"${digest}"`;
      void reply
        .header('etag', etag)
        .header('accept-ranges', 'bytes')
        .header('cache-control', 'private, max-age=31536000, immutable');
      if (matchesEtag(req.headers['if-none-match'], etag)) return reply.code(304).send();

      const rangeHeader = req.headers.range;
      const ifRange = req.headers['if-range'];
      const range =
        rangeHeader && (ifRange === undefined || ifRange === etag)
          ? parseRange(rangeHeader, sizeBytes)
          : undefined;
      if (range === 'unsatisfiable') {
        void reply.header('content-range', `bytes */${sizeBytes}`);
        throw new HubError('HUB_ERR_RANGE_NOT_SATISFIABLE', `${rangeHeader} of ${sizeBytes} bytes`);
      }
      void reply.type('application/octet-stream');
      if (range) {
        const length = range.end - range.start + 1;
        metrics.blobBytesServed.inc(req.method === 'HEAD' ? 0 : length);
        return reply
          .code(206)
          .header('content-range', `bytes ${range.start}-${range.end}/${sizeBytes}`)
          .header('content-length', length)
          .send(models.readBlob(digest, range));
      }
      metrics.blobBytesServed.inc(req.method === 'HEAD' ? 0 : sizeBytes);
      return reply.header('content-length', sizeBytes).send(models.readBlob(digest));
    },
  );
};

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

/**
 * One `bytes=` range, clamped to the blob; `undefined` when the header is malformed or asks for
 * several ranges (then the whole blob is sent), `'unsatisfiable'` when it starts past the end.
 */
export function parseRange(
  header: string,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}
