import { readFile } from 'node:fs/promises';
import type { CameraSnapshotMeta } from '@storevision/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotStore } from './storage/snapshot-store.ts';
import {
  BACKENDS,
  multipart,
  startTestHub,
  TEST_ADMIN_TOKEN,
  type TestHub,
  testDatabases,
} from './testing/hub-fixture.ts';
import { eventBatch, eventFactory } from './testing/store-events.ts';

/**
 * Camera snapshots on SQLite and a real PostgreSQL: an edge's node token uploads the latest
 * picture of a camera with its overlay, viewers read it (image and overlay), only the latest is
 * kept, scoped tokens see and write their own stores only, and bad uploads get stable codes.
 */
const databases = testDatabases();
afterAll(() => databases.stop());

const FIXTURE = new URL('./testing/fixtures/', import.meta.url);
const MAX_BYTES = 64 * 1024;

describe.each(BACKENDS)('camera snapshots on %s', (backend) => {
  let t: TestHub;
  let jpeg: Buffer;
  let meta: CameraSnapshotMeta;
  let node: Record<string, string>;
  let viewer: Record<string, string>;
  let otherViewer: Record<string, string>;
  const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const url = (camera = 'cam-checkout', store = 'sh-1') => `/v1/stores/${store}/cameras/${camera}/snapshot`;

  const scoped = async (role: 'node' | 'viewer', stores: string[]) => {
    const res = await t.hub.app.inject({
      method: 'POST',
      url: '/v1/tokens',
      headers: admin,
      payload: { role, label: `${role}-${stores.join('-')}`, stores },
    });
    return { authorization: `Bearer ${res.json().token}` };
  };
  const upload = (
    parts: { meta?: unknown; image?: Buffer; imageType?: string },
    headers = node,
    target = url(),
  ) => {
    const form = multipart([
      ...(parts.meta === undefined
        ? []
        : [
            { name: 'meta', value: typeof parts.meta === 'string' ? parts.meta : JSON.stringify(parts.meta) },
          ]),
      ...(parts.image === undefined
        ? []
        : [
            {
              name: 'image',
              filename: 'snapshot.jpg',
              content: parts.image,
              contentType: parts.imageType ?? 'image/jpeg',
            },
          ]),
    ]);
    return t.hub.app.inject({
      method: 'PUT',
      url: target,
      headers: { ...headers, ...form.headers },
      payload: form.payload,
    });
  };

  beforeAll(async () => {
    t = await startTestHub((dir) => databases.url(backend, dir), {
      eventPruneIntervalMs: 0,
      maxSnapshotBytes: MAX_BYTES,
    });
    jpeg = await readFile(new URL('camera-snapshot.jpg', FIXTURE));
    meta = JSON.parse(await readFile(new URL('camera-snapshot.json', FIXTURE), 'utf8'));
    // Two stores the hub knows (from their first events).
    for (const store of ['sh-1', 'bj-2']) {
      const res = await t.hub.app.inject({
        method: 'POST',
        url: '/v1/events/batch',
        headers: admin,
        payload: eventBatch(store, [
          eventFactory({ storeId: store }).crossing(meta.capturedAt, 'door', 'in'),
        ]),
      });
      expect(res.statusCode, res.body).toBe(200);
    }
    node = await scoped('node', ['sh-1']);
    viewer = await scoped('viewer', ['sh-1']);
    otherViewer = await scoped('viewer', ['bj-2']);
  });
  afterAll(() => t?.dispose());

  it('stores an edge’s snapshot and serves the JPEG and its overlay to viewers of the store', async () => {
    const res = await upload({ meta, image: jpeg });
    expect(res.statusCode, res.body).toBe(200);
    const stored = res.json();
    expect(stored).toMatchObject({
      storeId: 'sh-1',
      cameraId: 'cam-checkout',
      nodeId: 'node-1',
      frameId: meta.frameId,
      capturedAt: meta.capturedAt,
      width: 640,
      height: 360,
      sizeBytes: jpeg.length,
    });
    expect(stored.digest).toMatch(/^sha256:[a-f0-9]{64}$/);

    const overlay = await t.hub.app.inject({ url: `${url()}/meta`, headers: viewer });
    expect(overlay.statusCode, overlay.body).toBe(200);
    const body = overlay.json();
    expect(body.boxes).toEqual(meta.boxes);
    expect(body.zones).toEqual(meta.zones);
    expect(body.lines).toEqual(meta.lines);
    expect(body.schemaVersion).toBe(1);
    expect(body.imageUrl).toBe(`${url()}?v=${stored.digest.slice(7, 23)}`);

    const image = await t.hub.app.inject({ url: body.imageUrl, headers: viewer });
    expect(image.statusCode).toBe(200);
    expect(image.headers['content-type']).toBe('image/jpeg');
    expect(image.headers.etag).toBe(`"${stored.digest}"`);
    expect(image.headers['x-captured-at']).toBe(meta.capturedAt);
    expect(image.rawPayload.equals(jpeg)).toBe(true);
    // A browser revalidating its copy.
    const again = await t.hub.app.inject({
      url: url(),
      headers: { ...viewer, 'if-none-match': `"${stored.digest}"` },
    });
    expect(again.statusCode).toBe(304);
    expect(again.rawPayload.length).toBe(0);
  });

  it('keeps only the latest snapshot per camera, and never an older frame over a newer one', async () => {
    const newer = { ...meta, frameId: 'f-newer', capturedAt: '2026-01-05T09:00:26.000Z', boxes: [] };
    // Different bytes (a comment segment after SOI): another file.
    const other = Buffer.concat([
      jpeg.subarray(0, 2),
      Buffer.from([0xff, 0xfe, 0, 4, 0x68, 0x69]),
      jpeg.subarray(2),
    ]);
    expect((await upload({ meta: newer, image: other })).statusCode).toBe(200);
    // The camera's folder holds one file: the newer snapshot's.
    const snap = (await t.hub.app.inject({ url: `${url()}/meta`, headers: viewer })).json();
    expect(snap).toMatchObject({ frameId: 'f-newer', boxes: [] });
    const store = await SnapshotStore.open(`${t.dataDir}/snapshots`);
    expect(await store.files('sh-1', 'cam-checkout')).toEqual([`${snap.digest.slice(7)}.jpg`]);

    // A retried upload of an older frame arriving late: answered with what is kept, changes nothing.
    const late = await upload({ meta: { ...meta, frameId: 'f-older' }, image: jpeg });
    expect(late.statusCode, late.body).toBe(200);
    expect(late.json()).toMatchObject({ frameId: 'f-newer', digest: snap.digest });
    expect(await store.files('sh-1', 'cam-checkout')).toEqual([`${snap.digest.slice(7)}.jpg`]);
    const image = await t.hub.app.inject({ url: url(), headers: viewer });
    expect(image.rawPayload.equals(other)).toBe(true);
    expect(await t.hub.metrics.registry.metrics()).toMatch(/hub_camera_snapshots_total\{result="stale"\} 1/);
  });

  it('keeps stores apart: a node token writes its store only, a scoped viewer reads its stores only', async () => {
    // sh-1's node writing bj-2: refused before the body is read, like an event batch.
    const wrongStore = await upload({ meta, image: jpeg }, node, url('cam-checkout', 'bj-2'));
    expect(wrongStore.statusCode).toBe(403);
    expect(wrongStore.json().code).toBe('HUB_ERR_STORE_OUT_OF_SCOPE');
    // bj-2's viewer: sh-1's camera is as unknown as a store that does not exist, image and overlay.
    for (const path of [url(), `${url()}/meta`]) {
      const res = await t.hub.app.inject({ url: path, headers: otherViewer });
      expect(res.statusCode, path).toBe(404);
      expect(res.json().code).toBe('HUB_ERR_STORE_NOT_FOUND');
    }
    // An unscoped viewer (head office) sees it.
    const hq = { authorization: `Bearer ${await t.token('viewer')}` };
    expect((await t.hub.app.inject({ url: `${url()}/meta`, headers: hq })).statusCode).toBe(200);
    // The dashboard's cookie reads it (an <img> sends no header), but never writes.
    const cookie = { cookie: `sv_token=${encodeURIComponent(viewer.authorization!.slice(7))}` };
    expect((await t.hub.app.inject({ url: url(), headers: cookie })).statusCode).toBe(200);
    const cookieWrite = await upload({ meta, image: jpeg }, cookie as never);
    expect(cookieWrite.statusCode).toBe(401);
  });

  const png = Buffer.from(
    '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cf00000301010018dd8db00000000049454e44ae426082',
    'hex',
  );
  it.each([
    [
      'a PNG as the image',
      () => ({ meta, image: png, imageType: 'image/png' }),
      415,
      'HUB_ERR_SNAPSHOT_NOT_JPEG',
    ],
    ['a truncated JPEG', () => ({ meta, image: jpeg.subarray(0, 4000) }), 415, 'HUB_ERR_SNAPSHOT_NOT_JPEG'],
    ['no image', () => ({ meta }), 400, 'HUB_ERR_BAD_SNAPSHOT'],
    ['no meta', () => ({ image: jpeg }), 400, 'HUB_ERR_BAD_SNAPSHOT'],
    [
      'meta that is not JSON',
      () => ({ meta: '{"schemaVersion":', image: jpeg }),
      400,
      'HUB_ERR_BAD_SNAPSHOT',
    ],
    [
      'meta stating another size than the JPEG’s',
      () => ({ meta: { ...meta, width: 320, height: 180 }, image: jpeg }),
      400,
      'HUB_ERR_BAD_SNAPSHOT',
    ],
    [
      'a box outside the picture',
      () => ({
        meta: {
          ...meta,
          boxes: [{ label: 'person', score: 0.9, box: { x1: 0.5, y1: 0.5, x2: 1.5, y2: 0.9 } }],
        },
        image: jpeg,
      }),
      400,
      'HUB_ERR_BAD_SNAPSHOT',
    ],
    [
      'an image over maxSnapshotBytes',
      () => ({ meta, image: Buffer.concat([jpeg, Buffer.alloc(MAX_BYTES)]) }),
      413,
      'HUB_ERR_UPLOAD_TOO_LARGE',
    ],
  ])('refuses %s', async (_what, parts, status, code) => {
    const before = (await t.hub.app.inject({ url: `${url()}/meta`, headers: viewer })).json();
    const res = await upload(parts());
    expect(res.statusCode, res.body).toBe(status);
    expect(res.json().code).toBe(code);
    // Nothing changed.
    expect((await t.hub.app.inject({ url: `${url()}/meta`, headers: viewer })).json()).toEqual(before);
  });

  it.each([
    ['PUT', url('a'.repeat(65)), 'node', 400, 'HUB_ERR_BAD_CAMERA_ID'],
    ['PUT', url('cam-1', 'nope'), 'admin', 404, 'HUB_ERR_STORE_NOT_FOUND'],
    ['PUT', url(), 'viewer', 403, 'HUB_ERR_FORBIDDEN'],
    ['PUT', url(), 'none', 401, 'HUB_ERR_UNAUTHORIZED'],
    ['GET', url('cam-without-snapshot'), 'viewer', 404, 'HUB_ERR_SNAPSHOT_NOT_FOUND'],
    ['GET', `${url('cam-without-snapshot')}/meta`, 'viewer', 404, 'HUB_ERR_SNAPSHOT_NOT_FOUND'],
    ['GET', url('cam-1', 'nope'), 'viewer', 404, 'HUB_ERR_STORE_NOT_FOUND'],
    ['GET', url('a%20b'), 'viewer', 400, 'HUB_ERR_BAD_CAMERA_ID'],
    ['GET', url(), 'none', 401, 'HUB_ERR_UNAUTHORIZED'],
  ])('%s %s as %s → %i %s', async (method, path, who, status, code) => {
    const headers = who === 'node' ? node : who === 'viewer' ? viewer : who === 'admin' ? admin : {};
    const res =
      method === 'PUT'
        ? await upload({ meta, image: jpeg }, headers, path)
        : await t.hub.app.inject({ url: path, headers });
    expect(res.statusCode, res.body).toBe(status);
    expect(res.json().code).toBe(code);
  });

  it('refuses a body that is not multipart with 415', async () => {
    const res = await t.hub.app.inject({
      method: 'PUT',
      url: url(),
      headers: { ...node, 'content-type': 'image/jpeg' },
      payload: jpeg,
    });
    expect(res.statusCode).toBe(415);
    expect(res.json().code).toBe('HUB_ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  it('documents the routes in the OpenAPI description', async () => {
    const doc = (await t.hub.app.inject({ url: '/openapi.json' })).json();
    const path = '/v1/stores/{storeId}/cameras/{cameraId}/snapshot';
    expect(Object.keys(doc.paths[path])).toEqual(expect.arrayContaining(['put', 'get']));
    expect(doc.paths[path].put.description).toContain('multipart');
    expect(
      Object.keys(
        doc.paths[`${path}/meta`].get.responses['200'].content['application/json'].schema.properties,
      ),
    ).toEqual(expect.arrayContaining(['boxes', 'zones', 'lines', 'capturedAt', 'imageUrl']));
  });

  it('announces a new snapshot on /v1/live to viewers of its store only', async () => {
    await t.hub.app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(t.hub.app.server.address() as { port: number }).port}`;
    const listen = async (headers: Record<string, string>) => {
      const abort = new AbortController();
      const res = await fetch(`${base}/v1/live`, { headers, signal: abort.signal });
      const reader = res.body!.getReader();
      await reader.read(); // the `retry:` preamble: subscribed
      let text = '';
      return {
        async until(marker: string) {
          while (!text.includes(marker)) {
            const { value, done } = await reader.read();
            if (done) break;
            text += new TextDecoder().decode(value);
          }
          return text;
        },
        text: () => text,
        close: () => abort.abort(),
      };
    };
    const ours = await listen(viewer);
    const theirs = await listen(otherViewer);
    const capturedAt = '2026-01-05T09:01:00.000Z';
    expect((await upload({ meta: { ...meta, frameId: 'f-live', capturedAt }, image: jpeg })).statusCode).toBe(
      200,
    );
    // bj-2's own event afterwards: once its viewer hears that, it would have heard sh-1's snapshot.
    await t.hub.app.inject({
      method: 'POST',
      url: '/v1/events/batch',
      headers: admin,
      payload: eventBatch('bj-2', [
        eventFactory({ storeId: 'bj-2', cameraId: 'x' }).crossing(capturedAt, 'd', 'in'),
      ]),
    });
    const got = await ours.until('event: snapshot');
    expect(got).toContain(`"storeId":"sh-1","cameraId":"cam-checkout","capturedAt":"${capturedAt}"`);
    const other = await theirs.until('"storeId":"bj-2"');
    expect(other).not.toContain('event: snapshot');
    expect(other).not.toContain('sh-1');
    ours.close();
    theirs.close();
  });

  it('forgets snapshots of cameras gone quiet (retention)', async () => {
    expect(await t.hub.snapshots.prune(3_600_000)).toBe(0);
    expect(await t.hub.snapshots.prune(0)).toBe(1);
    const res = await t.hub.app.inject({ url: `${url()}/meta`, headers: viewer });
    expect(res.json().code).toBe('HUB_ERR_SNAPSHOT_NOT_FOUND');
    const store = await SnapshotStore.open(`${t.dataDir}/snapshots`);
    expect(await store.files('sh-1', 'cam-checkout')).toEqual([]);
  });
});
