import { readFileSync } from 'node:fs';
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
 * A deliberately broken "person-detector": the bundled detector's exact input and output (`images`
 * [1,3,S,S] → `output0` [1,6,N], read from its manifest), so it parses, loads in onnxruntime and
 * matches its manifest — everything the hub validates — but its one node reshapes 3·S·S values
 * into 6·N, which onnxruntime refuses on the first run: the edge's warm-up fails, as a bad export
 * would.
 */
export function brokenDetectorOnnx(): Buffer {
  const m = JSON.parse(readFileSync(path.join(PERSON_DETECTOR_DIR, 'manifest.json'), 'utf8')) as {
    input: { shape: number[] };
    output: { shape: number[] };
  };
  return Buffer.from(
    buildReshapeModel({
      input: { name: 'images', type: 'float32', shape: m.input.shape },
      output: { name: 'output0', type: 'float32', shape: m.output.shape },
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
