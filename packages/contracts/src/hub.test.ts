import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, type SignedModelVersion, signingPayload, verifyModelSignature } from './hub.ts';
import type { ModelManifest } from './manifest.ts';

const hex = 'a'.repeat(64);
const manifest = {
  schemaVersion: 1,
  name: 'person-detector',
  version: '1.2.0',
  task: 'detection',
  input: {
    name: 'images',
    shape: [1, 3, 320, 320],
    layout: 'NCHW',
    dtype: 'float32',
    colorOrder: 'RGB',
    normalize: { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
    resize: 'letterbox',
    padValue: 114,
    padCenter: true,
  },
  output: { name: 'output0', format: 'yolov8', shape: [1, 6, 2100] },
  labels: ['person', 'cart'],
  thresholds: { confidence: 0.25, iou: 0.45, maxDetections: 300 },
  variants: [
    {
      id: 'fp32-cpu',
      file: 'm.onnx',
      precision: 'fp32',
      executionProviders: ['cpu'],
      sha256: hex,
      sizeBytes: 10,
    },
  ],
} satisfies ModelManifest;

function signed(privateKey: Parameters<typeof sign>[2]): SignedModelVersion {
  const v = { name: 'person-detector', version: '1.2.0', digest: `sha256:${hex}`, manifest };
  return {
    ...v,
    sizeBytes: 10,
    createdAt: '2025-01-01T00:00:00.000Z',
    aliases: [],
    signature: {
      algorithm: 'ed25519',
      keyId: 'k',
      value: sign(null, signingPayload(v), privateKey).toString('base64'),
    },
  };
}

describe('model signatures', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();

  it('canonical JSON sorts keys at every depth and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: undefined, x: 'é' }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"x":"é","z":1}]},"b":1}',
    );
  });

  it('verifies a version signed by the key, whatever the key order it was stored in', () => {
    const v = signed(privateKey);
    expect(verifyModelSignature(pem, v)).toBe(true);
    const reverse = (x: unknown): unknown =>
      x && typeof x === 'object' && !Array.isArray(x)
        ? Object.fromEntries(
            Object.entries(x)
              .reverse()
              .map(([k, y]) => [k, reverse(y)]),
          )
        : x;
    const reordered = reverse(v) as SignedModelVersion;
    expect(Object.keys(reordered.manifest)[0]).toBe('variants');
    expect(verifyModelSignature(pem, reordered)).toBe(true);
  });

  it('refuses tampered, unsigned, foreign-signed versions and digests the manifest does not name', () => {
    const v = signed(privateKey);
    expect(verifyModelSignature(pem, { ...v, digest: `sha256:${'b'.repeat(64)}` })).toBe(false);
    expect(
      verifyModelSignature(pem, {
        ...v,
        manifest: { ...manifest, thresholds: { ...manifest.thresholds, confidence: 0.01 } },
      }),
    ).toBe(false);
    expect(verifyModelSignature(pem, { ...v, signature: null })).toBe(false);
    expect(verifyModelSignature(pem, { ...v, signature: { ...v.signature, value: 'AAAA' } })).toBe(false);
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(verifyModelSignature(other, v)).toBe(false);
    expect(verifyModelSignature('not a key', v)).toBe(false);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    expect(verifyModelSignature(rsa, v)).toBe(false);
  });
});
