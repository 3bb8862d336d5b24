import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Detection } from '@storevision/contracts';
import {
  Detector,
  decodeOutput,
  loadModelPackage,
  preprocess,
  resolveInputSpec,
} from '@storevision/detector';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeNode } from './node.ts';
import {
  BUNDLED_MODELS_DIR,
  renderFrames,
  startTestEdge,
  testModelsDir,
  YOLOV8N_FIXTURES,
  yolov8nPresent,
} from './testing/edge-fixture.ts';
import { corruptPng, jpegClaiming } from './testing/images.ts';
import { startTestRedis, type TestRedis } from './testing/redis-server.ts';

/**
 * The HTTP API of one real node (real Redis, the bundled detector, and the real YOLOv8n export
 * when its fixtures are present): synchronous detect, Open Inference Protocol v2, OpenAPI, health,
 * and every bad input of the issue with its code.
 */

// Above the ~9 MB (384×384) to ~15 MB (512×512) of a JSON tensor, small enough to send an over-limit body cheaply.
const BODY_LIMIT = 24 * 1024 * 1024;
let redis: TestRedis;
let models: Awaited<ReturnType<typeof testModelsDir>>;
let node: EdgeNode;
let frames: Awaited<ReturnType<typeof renderFrames>>;

beforeAll(async () => {
  [redis, models, frames] = await Promise.all([startTestRedis(), testModelsDir(), renderFrames(3)]);
  node = await startTestEdge(redis.url, {
    modelsDir: models.dir,
    models: yolov8nPresent ? ['person-detector', 'yolov8n'] : ['person-detector'],
    bodyLimitBytes: BODY_LIMIT,
  });
});
afterAll(async () => {
  await node?.close();
  await redis?.dispose();
  await models?.dispose();
});

const image = (
  url: string,
  payload: Buffer | string,
  type = 'image/jpeg',
  headers: Record<string, string> = {},
) => node.app.inject({ method: 'POST', url, headers: { 'content-type': type, ...headers }, payload });

const iou = (a: Detection['box'], b: Detection['box']) => {
  const w = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const h = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const i = w * h;
  return i / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - i);
};

describe('bad input gets a JSON error code, never a crash', () => {
  let cases: Array<{
    name: string;
    url: string;
    body: Buffer | string;
    type: string;
    status: number;
    code: string;
    headers?: Record<string, string>;
  }>;

  beforeAll(async () => {
    const jpeg = frames[0]!.jpeg;
    const png = await sharp(jpeg).png().toBuffer();
    const frameUrl = '/v1/cameras/cam-1/frames';
    const detectUrl = '/v1/models/person-detector/detect';
    cases = [];
    for (const url of [frameUrl, detectUrl]) {
      cases.push(
        {
          name: 'text in a JPEG body',
          url,
          body: 'definitely not a jpeg',
          type: 'image/jpeg',
          status: 400,
          code: 'EDGE_ERR_BAD_IMAGE',
        },
        {
          name: 'empty body',
          url,
          body: Buffer.alloc(0),
          type: 'image/jpeg',
          status: 400,
          code: 'EDGE_ERR_BAD_IMAGE',
        },
        {
          name: 'truncated JPEG',
          url,
          body: jpeg.subarray(0, Math.floor(jpeg.length * 0.6)),
          type: 'image/jpeg',
          status: 400,
          code: 'EDGE_ERR_BAD_IMAGE',
        },
        {
          name: 'truncated PNG',
          url,
          body: png.subarray(0, png.length - 100),
          type: 'image/png',
          status: 400,
          code: 'EDGE_ERR_BAD_IMAGE',
        },
        {
          name: 'JPEG markers around garbage',
          url,
          body: Buffer.concat([
            Buffer.from([0xff, 0xd8, 0xff, 0xdb]),
            Buffer.alloc(300, 7),
            Buffer.from([0xff, 0xd9]),
          ]),
          type: 'image/jpeg',
          status: 400,
          code: 'EDGE_ERR_BAD_IMAGE',
        },
        {
          name: 'JSON content type',
          url,
          body: '{"a":1}',
          type: 'application/json',
          status: 415,
          code: 'EDGE_ERR_UNSUPPORTED_MEDIA_TYPE',
        },
        {
          name: 'GIF content type',
          url,
          body: jpeg,
          type: 'image/gif',
          status: 415,
          code: 'EDGE_ERR_UNSUPPORTED_MEDIA_TYPE',
        },
        {
          name: 'octet-stream',
          url,
          body: jpeg,
          type: 'application/octet-stream',
          status: 415,
          code: 'EDGE_ERR_UNSUPPORTED_MEDIA_TYPE',
        },
        {
          name: 'body over the limit',
          url,
          body: Buffer.alloc(BODY_LIMIT + 1, 0xff),
          type: 'image/jpeg',
          status: 413,
          code: 'EDGE_ERR_BODY_TOO_LARGE',
        },
        {
          name: '50 MP header (decompression bomb)',
          url,
          body: await jpegClaiming(10_000, 5_000),
          type: 'image/jpeg',
          status: 413,
          code: 'EDGE_ERR_IMAGE_TOO_LARGE',
        },
      );
    }
    for (const id of ['a%20b', 'x'.repeat(65), 'cam%2F1', 'caf%C3%A9', '..%2F..%2Fetc'])
      cases.push({
        name: `camera id ${id}`,
        url: `/v1/cameras/${id}/frames`,
        body: jpeg,
        type: 'image/jpeg',
        status: 400,
        code: 'EDGE_ERR_BAD_CAMERA_ID',
      });
    cases.push(
      {
        name: 'bad x-capture-time',
        url: frameUrl,
        body: jpeg,
        type: 'image/jpeg',
        status: 400,
        code: 'EDGE_ERR_BAD_REQUEST',
        headers: { 'x-capture-time': 'yesterday' },
      },
      {
        name: 'PNG broken inside (found by the decoder)',
        url: detectUrl,
        body: await corruptPng(),
        type: 'image/png',
        status: 400,
        code: 'EDGE_ERR_BAD_IMAGE',
      },
      {
        name: 'unknown model',
        url: '/v1/models/no-such-model/detect',
        body: jpeg,
        type: 'image/jpeg',
        status: 404,
        code: 'EDGE_ERR_MODEL_NOT_FOUND',
      },
      {
        name: 'bad threshold override',
        url: `${detectUrl}?confidence=7`,
        body: jpeg,
        type: 'image/jpeg',
        status: 400,
        code: 'EDGE_ERR_BAD_REQUEST',
      },
    );
  });

  it('answers each bad input with its status and code', async () => {
    for (const c of cases) {
      const r = await image(c.url, c.body, c.type, c.headers);
      expect({ name: c.name, status: r.statusCode, code: r.json().code }).toEqual({
        name: c.name,
        status: c.status,
        code: c.code,
      });
      expect(typeof r.json().message).toBe('string');
    }
  });

  it('answers unknown routes and unknown v2 models with 404 codes', async () => {
    expect((await node.app.inject({ url: '/v1/nothing' })).json().code).toBe('EDGE_ERR_NOT_FOUND');
    for (const url of ['/v2/models/nope', '/v2/models/nope/ready']) {
      const r = await node.app.inject({ url });
      expect([r.statusCode, r.json().code]).toEqual([404, 'EDGE_ERR_MODEL_NOT_FOUND']);
    }
  });

  it('stays up with stable memory through 1,000 mixed bad requests', async () => {
    const before = process.memoryUsage();
    for (let i = 0; i < 1000; i++) {
      const c = cases[i % cases.length]!;
      const r = await image(c.url, c.body, c.type, c.headers);
      expect(r.statusCode).toBe(c.status);
    }
    expect((await node.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    const grown = (process.memoryUsage().rss - before.rss) / 2 ** 20;
    expect(grown, `rss grew ${grown.toFixed(1)} MiB`).toBeLessThan(150);
    // None of the refused frames reached Redis.
    expect(await node.repository.stats('cam-1')).toMatchObject({ received: 0 });
  });
});

describe('POST /v1/models/{name}/detect', () => {
  it('finds the people of a rendered store frame (ground truth from the renderer)', async () => {
    let matched = 0;
    let visiblePeople = 0;
    for (const f of frames) {
      const r = await image('/v1/models/person-detector/detect', f.jpeg);
      expect(r.statusCode).toBe(200);
      const body = r.json();
      expect(body).toMatchObject({ model: 'person-detector', width: 640, height: 480 });
      const people = (body.detections as Detection[]).filter((d) => d.label === 'person');
      const truth = f.truth.objects.filter(
        (o) => o.label === 'person' && o.visible >= 0.7 && o.box.y2 - o.box.y1 >= 48,
      );
      visiblePeople += truth.length;
      matched += truth.filter((t) => people.some((d) => iou(d.box, t.box) >= 0.5)).length;
    }
    expect(visiblePeople).toBeGreaterThan(0);
    expect(matched / visiblePeople).toBeGreaterThanOrEqual(0.6);
  });

  it('applies threshold overrides from the query', async () => {
    const all = (await image('/v1/models/person-detector/detect?confidence=0.05', frames[1]!.jpeg)).json();
    const one = (
      await image('/v1/models/person-detector/detect?confidence=0.05&maxDetections=1', frames[1]!.jpeg)
    ).json();
    expect(all.detections.length).toBeGreaterThanOrEqual(one.detections.length);
    expect(one.detections.length).toBeLessThanOrEqual(1);
  });

  const photos: Record<string, Array<[number, number, number, number]>> = {
    'bus.jpg': [
      [673, 377, 810, 879],
      [221, 408, 343, 857],
      [51, 398, 242, 904],
      [0, 550, 62, 870],
    ],
    'zidane.jpg': [
      [117, 199, 1109, 710],
      [749, 43, 1141, 709],
    ],
    'person.jpg': [[191, 100, 275, 375]],
    '000230.jpg': [[247, 73, 355, 358]],
    'dog.jpg': [],
  };
  it.skipIf(!yolov8nPresent)(
    `finds the people in the real YOLOv8n photos over HTTP, within ±3 px of Ultralytics${yolov8nPresent ? '' : ' (skipped: ../shared/fixtures/real-yolov8n is absent)'}`,
    async () => {
      for (const [photo, people] of Object.entries(photos)) {
        const r = await image(
          '/v1/models/yolov8n/detect?confidence=0.25&iou=0.45',
          await readFile(path.join(YOLOV8N_FIXTURES, photo)),
        );
        expect(r.statusCode).toBe(200);
        const found = (r.json().detections as Detection[]).filter((d) => d.classId === 0);
        expect(found, photo).toHaveLength(people.length);
        for (const [x1, y1, x2, y2] of people) {
          const err = Math.min(
            ...found.map((d) =>
              Math.max(
                Math.abs(d.box.x1 - x1),
                Math.abs(d.box.y1 - y1),
                Math.abs(d.box.x2 - x2),
                Math.abs(d.box.y2 - y2),
              ),
            ),
          );
          expect(err, `${photo} ${[x1, y1, x2, y2]}`).toBeLessThanOrEqual(3);
        }
      }
    },
  );
});

describe('Open Inference Protocol v2', () => {
  it('reports live, ready, model metadata and model readiness', async () => {
    expect((await node.app.inject({ url: '/v2/health/live' })).json()).toEqual({ live: true });
    const ready = await node.app.inject({ url: '/v2/health/ready' });
    expect([ready.statusCode, ready.json()]).toEqual([200, { ready: true }]);
    const meta = (await node.app.inject({ url: '/v2/models/person-detector' })).json();
    const { manifest } = await loadModelPackage(path.join(BUNDLED_MODELS_DIR, 'person-detector'));
    const [, , h, w] = manifest.input.shape as number[];
    expect(meta).toMatchObject({
      name: 'person-detector',
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'images', datatype: 'FP32', shape: [1, 3, h, w] }],
      // person + cart at strides 8, 16 and 32 of the square input.
      outputs: [
        { name: 'output0', datatype: 'FP32', shape: [1, 6, h! * w! * (1 / 64 + 1 / 256 + 1 / 1024)] },
      ],
    });
    expect(meta.versions).toHaveLength(1);
    const r = await node.app.inject({ url: '/v2/models/person-detector/ready' });
    expect([r.statusCode, r.json().ready]).toEqual([200, true]);
  });

  it('runs a real JSON tensor and returns the same output as an in-process session', async () => {
    const pkg = await loadModelPackage(path.join(BUNDLED_MODELS_DIR, 'person-detector'));
    const spec = resolveInputSpec(pkg.manifest.input);
    const pre = await preprocess(frames[2]!.jpeg, spec);
    const res = await node.app.inject({
      method: 'POST',
      url: '/v2/models/person-detector/infer',
      payload: {
        id: 'req-1',
        inputs: [{ name: 'images', shape: spec.dims, datatype: 'FP32', data: Array.from(pre.tensor) }],
      },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      model_name: 'person-detector',
      model_version: pkg.manifest.version,
      id: 'req-1',
    });
    const out = body.outputs[0];
    const anchors = pkg.manifest.output.shape[2] as number;
    expect(out).toMatchObject({ name: 'output0', shape: [1, 6, anchors], datatype: 'FP32' });
    expect(out.data).toHaveLength(6 * anchors);

    const local = await Detector.create({
      manifest: pkg.manifest,
      model: pkg.modelPath,
      session: { intraOpNumThreads: 1 },
      warmupRuns: 0,
    });
    try {
      const ref = await local.run(pre.tensor);
      let maxDiff = 0;
      for (let i = 0; i < ref.data.length; i++)
        maxDiff = Math.max(maxDiff, Math.abs(ref.data[i]! - out.data[i]));
      expect(maxDiff).toBeLessThan(1e-3);
      // Decoded, the v2 output gives the detect endpoint's boxes.
      const fromV2 = decodeOutput('yolov8', Float32Array.from(out.data), out.shape, {
        labels: pkg.manifest.labels,
        geometry: pre.geometry,
        confidence: pkg.manifest.thresholds.confidence,
        iou: pkg.manifest.thresholds.iou,
        maxDetections: pkg.manifest.thresholds.maxDetections,
      });
      const viaDetect = (await image('/v1/models/person-detector/detect', frames[2]!.jpeg)).json()
        .detections as Detection[];
      expect(fromV2.length).toBe(viaDetect.length);
      for (const d of fromV2)
        expect(Math.max(...viaDetect.map((v) => iou(v.box, d.box)))).toBeGreaterThan(0.99);
    } finally {
      await local.release();
    }
  });

  it('refuses tensors that do not fit the model with EDGE_ERR_BAD_TENSOR / EDGE_ERR_BAD_REQUEST', async () => {
    const post = (payload: unknown) =>
      node.app.inject({
        method: 'POST',
        url: '/v2/models/person-detector/infer',
        payload: payload as object,
      });
    const wrongShape = await post({
      inputs: [{ name: 'images', shape: [1, 3, 2, 2], datatype: 'FP32', data: new Array(12).fill(0) }],
    });
    expect([wrongShape.statusCode, wrongShape.json().code]).toEqual([400, 'EDGE_ERR_BAD_TENSOR']);
    const wrongName = await post({
      inputs: [{ name: 'x', shape: [1, 3, 320, 320], datatype: 'FP32', data: [] }],
    });
    expect(wrongName.json().code).toBe('EDGE_ERR_BAD_TENSOR');
    const shortData = await post({
      inputs: [{ name: 'images', shape: [1, 3, 320, 320], datatype: 'FP32', data: [1, 2] }],
    });
    expect(shortData.json().code).toBe('EDGE_ERR_BAD_TENSOR');
    const notTensors = await post({ inputs: 'nope' });
    expect([notTensors.statusCode, notTensors.json().code]).toEqual([400, 'EDGE_ERR_BAD_REQUEST']);
    const badJson = await node.app.inject({
      method: 'POST',
      url: '/v2/models/person-detector/infer',
      headers: { 'content-type': 'application/json' },
      payload: '{"inputs": [',
    });
    expect([badJson.statusCode, badJson.json().code]).toEqual([400, 'EDGE_ERR_BAD_REQUEST']);
  });
});

describe('service description and health', () => {
  it('serves its OpenAPI description with every route', async () => {
    const doc = (await node.app.inject({ url: '/openapi.json' })).json();
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of [
      '/v1/cameras/{cameraId}/frames',
      '/v1/cameras/{cameraId}/detections/latest',
      '/v1/cameras/{cameraId}/stats',
      '/v1/models/{name}/detect',
      '/v2/health/live',
      '/v2/health/ready',
      '/v2/models/{name}',
      '/v2/models/{name}/ready',
      '/v2/models/{name}/infer',
      '/healthz',
      '/readyz',
      '/metrics',
    ])
      expect(Object.keys(doc.paths), p).toContain(p);
  });

  it('is ready with models warm and Redis answering, and exports Prometheus metrics with units', async () => {
    const r = await node.app.inject({ url: '/readyz' });
    expect([r.statusCode, r.json()]).toEqual([
      200,
      { status: 'ready', ready: true, models: true, redis: true },
    ]);
    expect((await node.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const m = await node.app.inject({ url: '/metrics' });
    expect(m.headers['content-type']).toMatch(/^text\/plain/);
    for (const name of [
      'edge_http_request_duration_seconds_bucket',
      'edge_inference_seconds_bucket',
      'edge_queue_depth',
      'edge_process_resident_memory_bytes',
    ])
      expect(m.body).toContain(name);
  });
});
