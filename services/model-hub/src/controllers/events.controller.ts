import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FastifyPluginAsync } from 'fastify';
import { HubError } from '../errors.ts';
import type { EventIngestService } from '../services/event-ingest.service.ts';
import type { SnapshotNotice } from '../services/snapshot.service.ts';
import { inScope, storeScope } from '../services/token.service.ts';
import { EventStreams } from './event-streams.ts';
import { bearer, errors } from './schemas.ts';

/** Events from edges in (`POST /v1/events/batch`), and live notices out to dashboards (SSE). */
export const eventsController: FastifyPluginAsync<{
  ingest: EventIngestService;
  /** Camera snapshots, announced as `snapshot` events. */
  snapshots?: { subscribe(fn: (n: SnapshotNotice) => void): () => void };
  maxBatchBytes: number;
}> = async (app, { ingest, snapshots, maxBatchBytes }) => {
  app.post(
    '/v1/events/batch',
    {
      config: { role: 'node' },
      bodyLimit: maxBatchBytes,
      // Edges send gzip (a batch of 500 events is ~200 KB of JSON, ~15 KB gzipped). The limit
      // applies to the decompressed bytes, so a small zip bomb is refused too.
      preParsing: async (req, _reply, payload) => {
        const enc = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
        if (enc === 'identity') return payload;
        if (enc !== 'gzip')
          throw new HubError('HUB_ERR_UNSUPPORTED_MEDIA_TYPE', `content-encoding ${enc} (send gzip or none)`);
        const gunzip = createGunzip() as ReturnType<typeof createGunzip> & { receivedEncodedLength: number };
        gunzip.receivedEncodedLength = 0;
        payload.on('data', (c: Buffer) => {
          gunzip.receivedEncodedLength += c.length;
        });
        payload.on('error', (err) => gunzip.destroy(err));
        (payload as Readable).pipe(gunzip);
        return gunzip;
      },
      schema: {
        summary: 'Upload store events (from edges): idempotent on event ids',
        description:
          'Body `{schemaVersion: 1, nodeId, storeId, backlog?, timezone?, events: [...]}` (JSON, optionally ' +
          '`content-encoding: gzip`). Each event is checked on its own: unreadable ones are listed in ' +
          '`rejected` by position; events stored before (same id) count as `duplicates` and change nothing. ' +
          'An empty `events` is a heartbeat. When this answers 200, the accepted events and their rollups are stored.',
        tags: ['events'],
        consumes: ['application/json'],
        security: bearer,
        response: {
          200: {
            type: 'object',
            properties: {
              accepted: { type: 'integer' },
              duplicates: { type: 'integer' },
              rejected: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    index: { type: 'integer' },
                    id: { type: ['string', 'null'] },
                    message: { type: 'string' },
                  },
                },
              },
            },
          },
          ...errors(400, 401, 403, 413, 415, 503),
        },
      },
    },
    async (req) => ingest.ingest(req.body, storeScope(req.principal)),
  );

  // Live streams, ended when the hub closes.
  const live = new EventStreams(app);

  app.get<{ Querystring: { store?: string } }>(
    '/v1/live',
    {
      config: { role: 'viewer' },
      schema: {
        summary:
          'Server-sent events: `ingest` after each batch of a store (dashboards refresh on it), `snapshot` ' +
          '{storeId, cameraId, capturedAt, digest} when a camera’s snapshot changes; a scoped token hears its stores only',
        tags: ['events'],
        querystring: { type: 'object', properties: { store: { type: 'string' } } },
        security: bearer,
      },
    },
    (req, reply) => {
      const store = req.query.store;
      const scope = storeScope(req.principal);
      // Refused before the stream opens, so the client gets a JSON error, not an empty stream.
      if (store && !inScope(scope, store)) throw new HubError('HUB_ERR_STORE_NOT_FOUND', store);
      const hears = (storeId: string) => (!store || storeId === store) && inScope(scope, storeId);
      const offs: Array<() => void> = [];
      let ended = false;
      const res = live.open(reply, {
        retryMs: 3000,
        keepAliveMs: 15_000,
        onClose: () => {
          ended = true;
          for (const off of offs) off();
        },
      });
      if (ended) return;
      offs.push(
        ingest.subscribe((n) => {
          if (hears(n.storeId)) res.write(`event: ingest\ndata: ${JSON.stringify(n)}\n\n`);
        }),
      );
      const offSnapshots = snapshots?.subscribe((n) => {
        if (hears(n.storeId)) res.write(`event: snapshot\ndata: ${JSON.stringify(n)}\n\n`);
      });
      if (offSnapshots) offs.push(offSnapshots);
    },
  );
};
