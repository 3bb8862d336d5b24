import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  type FormPart,
  multipart,
  personDetector,
  startTestHub,
  TEST_ADMIN_TOKEN,
  type TestHub,
  testDatabases,
  YOLOV8N_ONNX,
  yolov8nPresent,
} from './testing/hub-fixture.ts';
import { onnxWithUnknownOperator } from './testing/onnx-fixtures.ts';

/**
 * Every bad publish of the issue, on SQLite and on a real PostgreSQL: each refused with its code,
 * and each leaving storage exactly as it was (no blob, no staged file, no row).
 */
const databases = testDatabases();
afterAll(() => databases.stop());

// The suite's "good small model" is the real YOLOv8n int8 export (3.5 MB, under the 3.9 MB limit the
// upload-size refusals need while the 4.1 MB bundled model is over it); without it the suite cannot run.
describe.skipIf(!yolov8nPresent).each(BACKENDS)(
  `publish refusals on %s${yolov8nPresent ? '' : ` (skipped: ${YOLOV8N_ONNX} is absent)`}`,
  (backend) => {
    let t: TestHub;
    let publisher: Record<string, string>;
    let before: Awaited<ReturnType<TestHub['storage']>>;

    beforeAll(async () => {
      // 3.9 MB: YOLOv8n int8 (3.5 MB) fits; the 4.1 MB bundled model is over it but within the early
      // Content-Length slack, so the streaming limit (not only the header check) is exercised.
      t = await startTestHub((dir) => databases.url(backend, dir), { maxUploadBytes: 3_900_000 });
      publisher = { authorization: `Bearer ${await t.token('publisher')}` };
      // One good version first, so "nothing changed" is checked against a non-empty store.
      const small = await readFile(YOLOV8N_ONNX);
      const ok = await publish('yolov8n', [
        { name: 'version', value: '1.0.0' },
        { name: 'model', filename: 'yolov8n.onnx', content: small },
      ]);
      expect(ok.statusCode, ok.body).toBe(201);
    });
    afterAll(() => t?.dispose());
    beforeEach(async () => {
      before = await t.storage();
    });

    function publish(name: string, parts: FormPart[], headers = publisher) {
      const body = multipart(parts);
      return t.hub.app.inject({
        method: 'POST',
        url: `/v1/models/${name}/versions`,
        headers: { ...headers, ...body.headers },
        payload: body.payload,
      });
    }

    async function expectRefused(res: Awaited<ReturnType<typeof publish>>, status: number, code: string) {
      expect(res.statusCode, res.body).toBe(status);
      expect(res.json()).toMatchObject({ code });
      expect(typeof res.json().message).toBe('string');
      const after = await t.storage();
      expect(after).toEqual(before);
      expect(after.staged).toEqual([]);
    }

    it('refuses a file that is not ONNX (422 HUB_ERR_NOT_ONNX)', async () => {
      const res = await publish('not-a-model', [
        { name: 'version', value: '1.0.0' },
        { name: 'model', filename: 'stores.csv', content: Buffer.from('store,camera\n17,entrance\n') },
      ]);
      await expectRefused(res, 422, 'HUB_ERR_NOT_ONNX');
    });

    it('refuses a truncated ONNX file (422 HUB_ERR_NOT_ONNX)', async () => {
      const { content, manifest } = await personDetector({ version: '2.0.0' });
      const res = await publish('person-detector', [
        {
          name: 'manifest',
          value: JSON.stringify({
            ...manifest,
            variants: [{ ...manifest.variants[0], sha256: undefined, sizeBytes: undefined }],
          }),
        },
        { name: 'model', filename: 'person-detector.onnx', content: content.subarray(0, 1_000_000) },
      ]);
      await expectRefused(res, 422, 'HUB_ERR_NOT_ONNX');
      expect(res.json().message).toMatch(/runs past/);
    });

    it('refuses ONNX that onnxruntime cannot load (422 HUB_ERR_ONNX_REJECTED)', async () => {
      const { manifest } = await personDetector({ name: 'broken-op', version: '1.0.0' });
      const res = await publish('broken-op', [
        {
          name: 'manifest',
          value: JSON.stringify({
            ...manifest,
            variants: [{ ...manifest.variants[0], sha256: undefined, sizeBytes: undefined }],
          }),
        },
        { name: 'model', filename: 'broken.onnx', content: onnxWithUnknownOperator() },
      ]);
      await expectRefused(res, 422, 'HUB_ERR_ONNX_REJECTED');
      expect(res.json().message).toContain('StorevisionNoSuchOp');
    });

    it('refuses ONNX without Ultralytics metadata when no manifest is given (422 HUB_ERR_MANIFEST_REQUIRED)', async () => {
      const res = await publish('no-metadata', [
        { name: 'version', value: '1.0.0' },
        { name: 'model', filename: 'm.onnx', content: onnxWithUnknownOperator() },
      ]);
      await expectRefused(res, 422, 'HUB_ERR_MANIFEST_REQUIRED');
    });

    it('refuses a manifest that contradicts the graph, naming each disagreement (422 HUB_ERR_MANIFEST_MISMATCH)', async () => {
      const { manifest } = await personDetector({ labels: ['person', 'cart', 'basket'] });
      const small = await readFile(YOLOV8N_ONNX);
      const res2 = await publish('yolov8n', [
        { name: 'version', value: '2.0.0' },
        {
          name: 'manifest',
          value: JSON.stringify({
            ...manifest,
            name: 'yolov8n',
            version: '2.0.0',
            input: { ...manifest.input, shape: [1, 3, 320, 320] },
            variants: [
              { id: 'int8-cpu', file: 'yolov8n.onnx', precision: 'int8', executionProviders: ['cpu'] },
            ],
          }),
        },
        { name: 'model', filename: 'yolov8n.onnx', content: small },
      ]);
      await expectRefused(res2, 422, 'HUB_ERR_MANIFEST_MISMATCH');
      expect(res2.json().message).toMatch(/input\.shape\[2\]: manifest 320, graph 640/);
      expect(res2.json().message).toMatch(/output.*84.*labels needs 7|output dim 1 is 84/);
    });

    it('refuses a manifest whose sha256 is not the uploaded file’s (422 HUB_ERR_MANIFEST_MISMATCH)', async () => {
      const small = await readFile(YOLOV8N_ONNX);
      const { manifest } = await personDetector();
      const res = await publish('yolov8n', [
        {
          name: 'manifest',
          value: JSON.stringify({ ...manifest, name: 'yolov8n', version: '3.0.0' }),
        },
        { name: 'model', filename: 'yolov8n.onnx', content: small },
      ]);
      // The person-detector manifest's sha256 names another file; its graph also disagrees.
      expect(res.statusCode).toBe(422);
      expect(['HUB_ERR_MANIFEST_MISMATCH']).toContain(res.json().code);
      expect(await t.storage()).toEqual(before);
    });

    it.each([
      ['..%2F..%2Fetc', 'a path climbing out'],
      ['a%2Fb', 'a slash'],
      ['a%5Cb', 'a backslash'],
      ['.hidden', 'a leading dot'],
      ['Person-Detector', 'upper case'],
      ['a%20b', 'a space'],
      ['x'.repeat(64), '64 characters'],
    ])('refuses the model name %s (%s) with 400 HUB_ERR_BAD_MODEL_NAME', async (name) => {
      const res = await publish(name, [
        { name: 'version', value: '1.0.0' },
        { name: 'model', filename: 'yolov8n.onnx', content: await readFile(YOLOV8N_ONNX) },
      ]);
      await expectRefused(res, 400, 'HUB_ERR_BAD_MODEL_NAME');
    });

    it('refuses a version that is not semver (400 HUB_ERR_BAD_VERSION)', async () => {
      const res = await publish('yolov8n', [
        { name: 'version', value: 'v2' },
        { name: 'model', filename: 'yolov8n.onnx', content: await readFile(YOLOV8N_ONNX) },
      ]);
      await expectRefused(res, 400, 'HUB_ERR_BAD_VERSION');
    });

    it('refuses an upload over the limit while it streams (413 HUB_ERR_UPLOAD_TOO_LARGE)', async () => {
      const { content, manifest } = await personDetector();
      const res = await publish('person-detector', [
        { name: 'manifest', value: JSON.stringify(manifest) },
        { name: 'model', filename: 'person-detector.onnx', content },
      ]);
      await expectRefused(res, 413, 'HUB_ERR_UPLOAD_TOO_LARGE');
    });

    it('refuses an announced Content-Length far over the limit before reading the body (413)', async () => {
      const res = await t.hub.app.inject({
        method: 'POST',
        url: '/v1/models/person-detector/versions',
        headers: {
          ...publisher,
          'content-type': 'multipart/form-data; boundary=x',
          'content-length': String(50 * 1024 ** 2),
        },
        payload: Buffer.alloc(10),
      });
      await expectRefused(res, 413, 'HUB_ERR_UPLOAD_TOO_LARGE');
    });

    it('refuses a publish from a viewer or node token (403) and from an unknown token (401)', async () => {
      const parts: FormPart[] = [
        { name: 'version', value: '9.0.0' },
        { name: 'model', filename: 'yolov8n.onnx', content: await readFile(YOLOV8N_ONNX) },
      ];
      for (const role of ['viewer', 'node'] as const) {
        const res = await publish('yolov8n', parts, { authorization: `Bearer ${await t.token(role)}` });
        await expectRefused(res, 403, 'HUB_ERR_FORBIDDEN');
      }
      await expectRefused(
        await publish('yolov8n', parts, { authorization: 'Bearer svh_unknown' }),
        401,
        'HUB_ERR_UNAUTHORIZED',
      );
      await expectRefused(await publish('yolov8n', parts, {}), 401, 'HUB_ERR_UNAUTHORIZED');
    });

    it('refuses the same version with other bytes (409 HUB_ERR_VERSION_EXISTS) and keeps the original', async () => {
      const original = (
        await t.hub.app.inject({
          url: '/v1/models/yolov8n/versions/1.0.0',
          headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
        })
      ).json();
      const other = Buffer.from(await readFile(YOLOV8N_ONNX));
      // Same model, one letter of its metadata description changed: still valid, but other bytes.
      const at = other.indexOf(Buffer.from('Ultralytics'));
      expect(at).toBeGreaterThan(0);
      other[at] = 'u'.charCodeAt(0);
      const res = await publish('yolov8n', [
        { name: 'version', value: '1.0.0' },
        { name: 'model', filename: 'yolov8n.onnx', content: other },
      ]);
      await expectRefused(res, 409, 'HUB_ERR_VERSION_EXISTS');
      const now = (
        await t.hub.app.inject({
          url: '/v1/models/yolov8n/versions/1.0.0',
          headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
        })
      ).json();
      expect(now.digest).toBe(original.digest);
    });

    it('refuses a body without a model file (400) and a non-multipart body (415)', async () => {
      await expectRefused(
        await publish('yolov8n', [{ name: 'version', value: '4.0.0' }]),
        400,
        'HUB_ERR_MODEL_FILE_MISSING',
      );
      const json = await t.hub.app.inject({
        method: 'POST',
        url: '/v1/models/yolov8n/versions',
        headers: publisher,
        payload: { version: '4.0.0' },
      });
      await expectRefused(json, 415, 'HUB_ERR_UNSUPPORTED_MEDIA_TYPE');
    });
  },
);
