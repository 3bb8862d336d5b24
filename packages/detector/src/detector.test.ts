import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Detector } from './detector.ts';
import { isDetectorError } from './errors.ts';
import { availableExecutionProviders } from './execution-providers.ts';
import type { RawRgbImage } from './preprocess.ts';
import { testManifest } from './testing/manifests.ts';
import { buildReshapeModel } from './testing/tiny-onnx.ts';

/**
 * A real onnxruntime session on a one-node model (Reshape [1,3,8,8] → [1,6,32]), so the whole
 * detect() path runs without downloading anything. With R and G normalised to raw pixel values
 * and B to 0–1, the pixels spell out the yolov8 output: for anchor (y, x) with y < 4,
 * cx = R(y,x), cy = R(y+4,x), w = G(y,x), h = G(y+4,x), person = B(y,x), cart = B(y+4,x).
 */
const model = buildReshapeModel({
  input: { name: 'images', type: 'float32', shape: [1, 3, 8, 8] },
  output: { name: 'output0', type: 'float32', shape: [1, 6, 32] },
});

const manifest = testManifest((m) => {
  m.input.shape = [1, 3, 8, 8];
  m.input.resize = 'stretch';
  m.input.normalize = { scale: 1 / 255, mean: [0, 0, 0], std: [1 / 255, 1 / 255, 1] };
  m.output.shape = [1, 6, 32];
});

function frame(
  objects: Array<{
    y: number;
    x: number;
    cx: number;
    cy: number;
    w: number;
    h: number;
    person?: number;
    cart?: number;
  }>,
): RawRgbImage {
  const data = new Uint8Array(8 * 8 * 3);
  const set = (y: number, x: number, c: number, v: number) => {
    data[(y * 8 + x) * 3 + c] = v;
  };
  for (const o of objects) {
    set(o.y, o.x, 0, o.cx);
    set(o.y + 4, o.x, 0, o.cy);
    set(o.y, o.x, 1, o.w);
    set(o.y + 4, o.x, 1, o.h);
    set(o.y, o.x, 2, o.person ?? 0);
    set(o.y + 4, o.x, 2, o.cart ?? 0);
  }
  return { data, width: 8, height: 8, channels: 3 };
}

const shopperAndCart = frame([
  { y: 0, x: 0, cx: 4, cy: 4, w: 4, h: 4, person: 230 },
  { y: 1, x: 1, cx: 6, cy: 6, w: 2, h: 2, cart: 204 },
]);

const summary = (r: { detections: Array<{ label: string; score: number; box: object }> }) =>
  r.detections.map((d) => [d.label, +d.score.toFixed(3), d.box]);

describe('Detector on a real onnxruntime session', () => {
  let detector: Detector;
  beforeAll(async () => {
    detector = await Detector.create({ manifest, model, session: { intraOpNumThreads: 1 } });
  });
  afterAll(() => detector.release());

  it('detects from decoded RGB and from a PNG, with timings', async () => {
    const expected = [
      ['person', 0.902, { x1: 2, y1: 2, x2: 6, y2: 6 }],
      ['cart', 0.8, { x1: 5, y1: 5, x2: 7, y2: 7 }],
    ];
    const fromRaw = await detector.detect(shopperAndCart);
    expect(summary(fromRaw)).toEqual(expected);
    const png = await sharp(shopperAndCart.data, { raw: { width: 8, height: 8, channels: 3 } })
      .png()
      .toBuffer();
    const fromPng = await detector.detect(png);
    expect(summary(fromPng)).toEqual(expected);
    for (const v of Object.values(fromPng.timings)) expect(v).toBeGreaterThanOrEqual(0);
    expect(Object.keys(fromPng.timings).sort()).toEqual([
      'decodeMs',
      'inferMs',
      'postprocessMs',
      'preprocessMs',
    ]);
  });

  it('takes threshold overrides per call', async () => {
    expect(summary(await detector.detect(shopperAndCart, { confidence: 0.85 })).map((d) => d[0])).toEqual([
      'person',
    ]);
    expect(
      summary(await detector.detect(shopperAndCart, { perLabel: { person: 0.95 } })).map((d) => d[0]),
    ).toEqual(['cart']);
  });

  it('keeps concurrent frames apart (each in-flight call has its own input buffer)', async () => {
    const alone = frame([{ y: 2, x: 3, cx: 1, cy: 1, w: 2, h: 2, person: 255 }]);
    const [a, b] = await Promise.all([detector.detect(shopperAndCart), detector.detect(alone)]);
    expect(a.detections).toHaveLength(2);
    expect(summary(b)).toEqual([['person', 1, { x1: 0, y1: 0, x2: 2, y2: 2 }]]);
  });

  it('exposes the raw run() on a prepared tensor', async () => {
    const out = await detector.run(new Float32Array(192).map((_, i) => i));
    expect(out.dims).toEqual([1, 6, 32]);
    expect(out.data[33]).toBe(33);
    await expect(detector.run(new Float32Array(10))).rejects.toThrow(/192/);
  });
});

describe('Detector.create', () => {
  it('refuses a manifest that does not match the graph', async () => {
    const wrong = { ...manifest, labels: ['person', 'cart', 'basket'] };
    const err = await Detector.create({ manifest: wrong, model }).catch((e: unknown) => e);
    expect(isDetectorError(err, 'DETECTOR_ERR_GRAPH_MISMATCH')).toBe(true);
  });

  it.skipIf(availableExecutionProviders().includes('cuda'))(
    'falls back to cpu when a GPU provider cannot be loaded (this machine has no CUDA libraries)',
    async () => {
      const warnings: string[] = [];
      const logger = { warn: (_: object, msg: string) => warnings.push(msg), info: () => {} };
      const d = await Detector.create({
        manifest,
        model,
        session: { executionProviders: ['cuda', 'cpu'] },
        logger,
      });
      expect(d.executionProviders).toEqual(['cpu']);
      expect(warnings).toEqual(['session creation failed, falling back to cpu']);
      await d.release();
    },
  );

  it('refuses work after release', async () => {
    const d = await Detector.create({ manifest, model, warmupRuns: 0 });
    await d.release();
    const err = await d.detect(shopperAndCart).catch((e: unknown) => e);
    expect(isDetectorError(err, 'DETECTOR_ERR_RELEASED')).toBe(true);
  });
});
