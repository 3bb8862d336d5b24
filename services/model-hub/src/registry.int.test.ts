import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { signedModelVersionSchema, verifyModelSignature } from '@storevision/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  multipart,
  personDetector,
  startTestHub,
  TEST_ADMIN_TOKEN,
  type TestHub,
  testDatabases,
  YOLOV8N_ONNX,
  yolov8nPresent,
} from './testing/hub-fixture.ts';

/** The registry's API against SQLite and a real PostgreSQL: the same tests, the same code. */
const databases = testDatabases();
afterAll(() => databases.stop());

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe.each(BACKENDS)('model registry on %s', (backend) => {
  let t: TestHub;
  let admin: Record<string, string>;
  let publisher: Record<string, string>;
  let viewer: Record<string, string>;
  let node: Record<string, string>;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    t = await startTestHub((dir) => databases.url(backend, dir));
    admin = bearer(TEST_ADMIN_TOKEN);
    publisher = bearer(await t.token('publisher'));
    viewer = bearer(await t.token('viewer'));
    node = bearer(await t.token('node'));
  });
  afterAll(() => t?.dispose());

  async function publish(name: string, parts: Parameters<typeof multipart>[0], headers = publisher) {
    const body = multipart(parts);
    return t.hub.app.inject({
      method: 'POST',
      url: `/v1/models/${name}/versions`,
      headers: { ...headers, ...body.headers },
      payload: body.payload,
    });
  }

  it('publishes a model with its manifest: 201 {name, version, digest}, signed, verifiable by an edge', async () => {
    const { content, manifest } = await personDetector();
    const res = await publish('person-detector', [
      { name: 'manifest', value: JSON.stringify(manifest) },
      { name: 'model', filename: 'person-detector.onnx', content },
    ]);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toEqual({ name: 'person-detector', version: '1.0.0', digest: sha256(content) });

    const got = await t.hub.app.inject({ url: '/v1/models/person-detector/versions/1.0.0', headers: node });
    expect(got.statusCode).toBe(200);
    const v = signedModelVersionSchema.parse(got.json());
    expect(v.sizeBytes).toBe(content.length);
    expect(v.manifest.labels).toEqual(['person', 'cart']);
    expect(v.manifest.variants).toEqual([
      expect.objectContaining({
        file: 'person-detector.onnx',
        sha256: sha256(content).slice(7),
        sizeBytes: content.length,
      }),
    ]);

    const key = await t.hub.app.inject({ url: '/v1/signing-key' });
    expect(key.json()).toMatchObject({ algorithm: 'ed25519', keyId: v.signature.keyId });
    const pem = key.json().publicKeyPem as string;
    expect(verifyModelSignature(pem, v)).toBe(true);
    // Tampering with anything signed breaks the signature.
    expect(verifyModelSignature(pem, { ...v, manifest: { ...v.manifest, labels: ['person', 'dog'] } })).toBe(
      false,
    );
    expect(verifyModelSignature(pem, { ...v, version: '1.0.1' })).toBe(false);
    expect(verifyModelSignature(pem, { ...v, signature: undefined })).toBe(false);
  });

  it('publishing the same version with the same bytes again is idempotent (200, same digest, nothing new stored)', async () => {
    const before = await t.storage();
    const { content, manifest } = await personDetector();
    const res = await publish('person-detector', [
      { name: 'model', filename: 'person-detector.onnx', content },
      { name: 'manifest', value: JSON.stringify(manifest) },
    ]);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().digest).toBe(sha256(content));
    expect(await t.storage()).toEqual(before);
  });

  it('imports an export with Ultralytics metadata without a manifest (the bundled detector carries it)', async () => {
    const { content, manifest } = await personDetector();
    const res = await publish('imported-detector', [
      { name: 'version', value: '2.0.0' },
      { name: 'model', filename: 'person-detector.onnx', content },
    ]);
    expect(res.statusCode, res.body).toBe(201);
    const v = (
      await t.hub.app.inject({ url: '/v1/models/imported-detector/versions/2.0.0', headers: viewer })
    ).json();
    expect(v.manifest.labels).toEqual(['person', 'cart']);
    // The graph's static shapes, as the bundled manifest states them.
    expect(v.manifest.input.shape).toEqual(manifest.input.shape);
    expect(v.manifest.output).toMatchObject({
      name: 'output0',
      format: 'yolov8',
      shape: manifest.output.shape,
    });
    expect(v.manifest.output.shape).toHaveLength(3);
    expect(v.manifest.source).toMatchObject({ importedFrom: 'ultralytics-onnx-metadata', stride: 32 });
  });

  it.skipIf(!yolov8nPresent)(
    `imports the real Ultralytics YOLOv8n export without a manifest, from its ONNX metadata${yolov8nPresent ? '' : ` (skipped: ${YOLOV8N_ONNX} is absent)`}`,
    async () => {
      const content = await readFile(YOLOV8N_ONNX);
      const res = await publish('yolov8n', [
        { name: 'version', value: '8.1.0' },
        { name: 'model', filename: 'yolov8n_int8.onnx', content },
      ]);
      expect(res.statusCode, res.body).toBe(201);
      const v = (
        await t.hub.app.inject({ url: '/v1/models/yolov8n/versions/8.1.0', headers: viewer })
      ).json();
      expect(v.manifest.labels).toHaveLength(80);
      expect(v.manifest.labels.slice(0, 3)).toEqual(['person', 'bicycle', 'car']);
      expect(v.manifest.input.shape).toEqual([1, 3, 640, 640]);
      expect(v.manifest.output).toMatchObject({ name: 'output0', format: 'yolov8', shape: [1, 84, 8400] });
      expect(v.manifest.source).toMatchObject({ importedFrom: 'ultralytics-onnx-metadata', stride: 32 });
      expect(v.manifest.variants[0]).toMatchObject({ precision: 'int8', sha256: sha256(content).slice(7) });
    },
  );

  it('lists models and versions (newest first) and resolves aliases', async () => {
    const { content, manifest } = await personDetector({ version: '1.10.0' });
    expect(
      (
        await publish('person-detector', [
          { name: 'manifest', value: JSON.stringify(manifest) },
          { name: 'model', filename: 'm.onnx', content },
        ])
      ).statusCode,
    ).toBe(201);

    const put = await t.hub.app.inject({
      method: 'PUT',
      url: '/v1/models/person-detector/aliases/stable',
      headers: publisher,
      payload: { version: '1.0.0' },
    });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toEqual({ name: 'person-detector', alias: 'stable', version: '1.0.0' });

    const list = (await t.hub.app.inject({ url: '/v1/models', headers: viewer })).json();
    expect(list.models.map((m: { name: string }) => m.name)).toEqual([
      'imported-detector',
      'person-detector',
      ...(yolov8nPresent ? ['yolov8n'] : []),
    ]);
    expect(list.models.find((m: { name: string }) => m.name === 'person-detector')).toMatchObject({
      latestVersion: '1.10.0',
      versions: 2,
      aliases: { stable: '1.0.0' },
    });

    const versions = (
      await t.hub.app.inject({ url: '/v1/models/person-detector/versions', headers: viewer })
    ).json();
    expect(versions.versions.map((v: { version: string }) => v.version)).toEqual(['1.10.0', '1.0.0']);
    expect(versions.versions[1].aliases).toEqual(['stable']);

    const stable = (
      await t.hub.app.inject({ url: '/v1/models/person-detector/versions/stable', headers: viewer })
    ).json();
    expect(stable).toMatchObject({ version: '1.0.0', aliases: ['stable'] });

    // Moving the alias: the next resolution follows it.
    await t.hub.app.inject({
      method: 'PUT',
      url: '/v1/models/person-detector/aliases/stable',
      headers: publisher,
      payload: { version: '1.10.0' },
    });
    const moved = (
      await t.hub.app.inject({ url: '/v1/models/person-detector/versions/stable', headers: viewer })
    ).json();
    expect(moved.version).toBe('1.10.0');
  });

  it.each([
    ['an unknown version', 'stable', { version: '9.9.9' }, 404, 'HUB_ERR_VERSION_NOT_FOUND'],
    ['a version that is not semver', 'stable', { version: 'latest' }, 400, 'HUB_ERR_BAD_VERSION'],
    ['an alias that looks like a version', '1.0.0', { version: '1.0.0' }, 400, 'HUB_ERR_BAD_ALIAS'],
  ])('refuses to point an alias at %s', async (_what, alias, payload, status, code) => {
    const res = await t.hub.app.inject({
      method: 'PUT',
      url: `/v1/models/person-detector/aliases/${alias}`,
      headers: publisher,
      payload,
    });
    expect(res.statusCode).toBe(status);
    expect(res.json().code).toBe(code);
  });

  it('answers 404 with a code for unknown models, versions and aliases', async () => {
    for (const [url, code] of [
      ['/v1/models/nope/versions', 'HUB_ERR_MODEL_NOT_FOUND'],
      ['/v1/models/person-detector/versions/7.7.7', 'HUB_ERR_VERSION_NOT_FOUND'],
      ['/v1/models/person-detector/versions/canary', 'HUB_ERR_VERSION_NOT_FOUND'],
    ] as const) {
      const res = await t.hub.app.inject({ url, headers: viewer });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().code, url).toBe(code);
    }
  });

  describe('blobs', () => {
    let digest: string;
    let content: Buffer;
    beforeAll(async () => {
      content = (await personDetector()).content;
      digest = sha256(content);
    });

    it('serves the whole blob with a strong ETag, and 304 for If-None-Match', async () => {
      const res = await t.hub.app.inject({ url: `/v1/blobs/${digest}`, headers: node });
      expect(res.statusCode).toBe(200);
      expect(res.headers.etag).toBe(`"${digest}"`);
      expect(res.headers['accept-ranges']).toBe('bytes');
      expect(Number(res.headers['content-length'])).toBe(content.length);
      expect(res.rawPayload.equals(content)).toBe(true);

      const again = await t.hub.app.inject({
        url: `/v1/blobs/${digest}`,
        headers: { ...node, 'if-none-match': `"${digest}"` },
      });
      expect(again.statusCode).toBe(304);
      expect(again.rawPayload.length).toBe(0);
    });

    // Negative positions count from the end of the ~4.1 MB blob (-1 = its last byte).
    it.each([
      ['bytes=100-199', 100, 199],
      ['bytes=4000000-', 4_000_000, -1],
      ['bytes=-10', -10, -1],
      ['bytes=4134000-99999999', 4_134_000, -1],
    ])('answers Range %s with 206 and exactly those bytes', async (range, from, to) => {
      const start = from < 0 ? content.length + from : from;
      const end = to < 0 ? content.length + to : to;
      const res = await t.hub.app.inject({ url: `/v1/blobs/${digest}`, headers: { ...node, range } });
      expect(res.statusCode).toBe(206);
      expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${content.length}`);
      expect(res.rawPayload.equals(content.subarray(start, end + 1))).toBe(true);
    });

    it('answers a range past the end with 416 and the size', async () => {
      const res = await t.hub.app.inject({
        url: `/v1/blobs/${digest}`,
        headers: { ...node, range: 'bytes=99999999-' },
      });
      expect(res.statusCode).toBe(416);
      expect(res.headers['content-range']).toBe(`bytes */${content.length}`);
      expect(res.json().code).toBe('HUB_ERR_RANGE_NOT_SATISFIABLE');
    });

    it('sends the whole blob when If-Range names another version of it', async () => {
      const res = await t.hub.app.inject({
        url: `/v1/blobs/${digest}`,
        headers: { ...node, range: 'bytes=0-9', 'if-range': '"sha256:other"' },
      });
      expect(res.statusCode).toBe(200);
      expect(res.rawPayload.length).toBe(content.length);
    });

    it('needs the node role or higher: viewer 403, none 401, publisher and admin 200', async () => {
      const url = `/v1/blobs/${digest}`;
      expect((await t.hub.app.inject({ url, headers: viewer })).json().code).toBe('HUB_ERR_FORBIDDEN');
      expect((await t.hub.app.inject({ url })).statusCode).toBe(401);
      expect((await t.hub.app.inject({ url, headers: publisher, method: 'HEAD' })).statusCode).toBe(200);
      expect((await t.hub.app.inject({ url, headers: admin, method: 'HEAD' })).statusCode).toBe(200);
    });

    it('answers 400 for a malformed digest and 404 for an unknown one', async () => {
      expect(
        (await t.hub.app.inject({ url: '/v1/blobs/..%2F..%2Fetc%2Fpasswd', headers: node })).json().code,
      ).toBe('HUB_ERR_BAD_DIGEST');
      const res = await t.hub.app.inject({ url: `/v1/blobs/sha256:${'0'.repeat(64)}`, headers: node });
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('HUB_ERR_BLOB_NOT_FOUND');
    });
  });

  describe('tokens', () => {
    it('lets only an admin issue tokens, stores them hashed, and never lists secrets', async () => {
      const denied = await t.hub.app.inject({
        method: 'POST',
        url: '/v1/tokens',
        headers: publisher,
        payload: { role: 'admin' },
      });
      expect(denied.statusCode).toBe(403);
      expect(denied.json().code).toBe('HUB_ERR_FORBIDDEN');
      const created = await t.hub.app.inject({
        method: 'POST',
        url: '/v1/tokens',
        headers: admin,
        payload: { role: 'node', label: 'store-17-edge-a' },
      });
      expect(created.statusCode).toBe(201);
      const { token, id } = created.json();
      expect(token).toMatch(/^svh_/);
      const rows = await t.hub.database.db
        .selectFrom('api_tokens')
        .selectAll()
        .where('id', '=', id)
        .execute();
      expect(rows[0]!.token_hash).toBe(createHash('sha256').update(token).digest('hex'));
      expect(JSON.stringify(rows)).not.toContain(token);
      const list = await t.hub.app.inject({ url: '/v1/tokens', headers: admin });
      expect(list.body).not.toContain(token);
      expect(list.json().tokens.find((x: { id: string }) => x.id === id)).toMatchObject({
        role: 'node',
        label: 'store-17-edge-a',
      });
    });

    it('refuses unknown, revoked and expired tokens with 401', async () => {
      const unknown = await t.hub.app.inject({ url: '/v1/models', headers: bearer('svh_not-a-real-token') });
      expect(unknown.statusCode).toBe(401);
      expect(unknown.json().code).toBe('HUB_ERR_UNAUTHORIZED');

      const issued = (
        await t.hub.app.inject({
          method: 'POST',
          url: '/v1/tokens',
          headers: admin,
          payload: { role: 'viewer' },
        })
      ).json();
      expect((await t.hub.app.inject({ url: '/v1/models', headers: bearer(issued.token) })).statusCode).toBe(
        200,
      );
      expect(
        (await t.hub.app.inject({ method: 'DELETE', url: `/v1/tokens/${issued.id}`, headers: admin }))
          .statusCode,
      ).toBe(204);
      const revoked = await t.hub.app.inject({ url: '/v1/models', headers: bearer(issued.token) });
      expect(revoked.statusCode).toBe(401);
      expect(revoked.json().message).toContain('revoked');

      const short = (
        await t.hub.app.inject({
          method: 'POST',
          url: '/v1/tokens',
          headers: admin,
          payload: { role: 'viewer', expiresInSeconds: 1 },
        })
      ).json();
      await new Promise((r) => setTimeout(r, 1100));
      const expired = await t.hub.app.inject({ url: '/v1/models', headers: bearer(short.token) });
      expect(expired.statusCode).toBe(401);
      expect(expired.json().message).toContain('expired');
    });
  });

  it('serves health, readiness, metrics and the OpenAPI description without a token', async () => {
    expect((await t.hub.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await t.hub.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().database).toEqual({ kind: backend, ok: true });
    const metrics = (await t.hub.app.inject({ url: '/metrics' })).body;
    // person-detector 1.0.0 and 1.10.0, the imported detector, and YOLOv8n when its export is here.
    expect(metrics).toMatch(
      new RegExp(`hub_model_publishes_total\\{result="created"\\} ${yolov8nPresent ? 4 : 3}`),
    );
    expect(metrics).toContain('hub_model_validation_seconds_bucket');
    const doc = (await t.hub.app.inject({ url: '/documentation/json' })).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/models/{name}/versions',
        '/v1/models/{name}/versions/{ref}',
        '/v1/models/{name}/aliases/{alias}',
        '/v1/blobs/{digest}',
        '/v1/tokens',
        '/v1/signing-key',
      ]),
    );
  });
});
