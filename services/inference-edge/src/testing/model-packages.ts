import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildReshapeModel } from '../../../../packages/detector/src/testing/tiny-onnx.ts';
import { BUNDLED_MODELS_DIR } from './edge-fixture.ts';

/** The bundled person-detector's package folder, manifest and ONNX file. */
export const PERSON_DETECTOR_DIR = path.join(BUNDLED_MODELS_DIR, 'person-detector');
export const PERSON_DETECTOR_ONNX = path.join(PERSON_DETECTOR_DIR, 'person-detector.onnx');

export async function personDetectorManifest(): Promise<
  Record<string, unknown> & { variants: Array<Record<string, unknown>> }
> {
  return JSON.parse(await readFile(path.join(PERSON_DETECTOR_DIR, 'manifest.json'), 'utf8'));
}

/**
 * A deliberately broken "person-detector": the detector's exact input and output (`images`
 * [1,3,320,320] → `output0` [1,6,2100]), so it parses, loads in onnxruntime and matches its
 * manifest — everything the hub validates — but its one node reshapes 307 200 values into 12 600,
 * which onnxruntime refuses on the first run: the edge's warm-up fails, as a bad export would.
 */
export function brokenDetectorOnnx(): Buffer {
  return Buffer.from(
    buildReshapeModel({
      input: { name: 'images', type: 'float32', shape: [1, 3, 320, 320] },
      output: { name: 'output0', type: 'float32', shape: [1, 6, 2100] },
    }),
  );
}

/** The broken model's manifest: the detector's, re-versioned, without the bundled file's digest. */
export async function brokenDetectorManifest(version: string) {
  const m = await personDetectorManifest();
  const { sha256: _s, sizeBytes: _b, ...variant } = m.variants[0]!;
  return { ...m, version, variants: [variant] };
}

/** Package folders for pool tests: the detector re-versioned, and the broken one. */
export async function testPackages(): Promise<{
  reversioned(version: string): Promise<string>;
  broken(version: string): Promise<string>;
  dispose(): Promise<void>;
}> {
  const root = await mkdtemp(path.join(tmpdir(), 'sv-packages-'));
  return {
    async reversioned(version) {
      const dir = path.join(root, `person-detector-${version}`);
      await mkdir(dir);
      await writeFile(
        path.join(dir, 'manifest.json'),
        JSON.stringify({ ...(await personDetectorManifest()), version }),
      );
      await symlink(PERSON_DETECTOR_ONNX, path.join(dir, 'person-detector.onnx'));
      return dir;
    },
    async broken(version) {
      const dir = path.join(root, `broken-${version}`);
      await mkdir(dir);
      await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(await brokenDetectorManifest(version)));
      await writeFile(path.join(dir, 'person-detector.onnx'), brokenDetectorOnnx());
      return dir;
    },
    dispose: () => rm(root, { recursive: true, force: true }),
  };
}
