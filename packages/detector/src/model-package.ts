import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type ModelManifest, type ModelVariant, modelManifestSchema } from '@storevision/contracts';
import { DetectorError } from './errors.ts';
import { availableExecutionProviders, DEFAULT_EP_PREFERENCE } from './execution-providers.ts';

/**
 * A model package on disk: `manifest.json` plus the variants' ONNX files (ARCHITECTURE.md,
 * "Model package"). Loading validates the manifest with the contracts schema, picks the variant
 * that fits this machine's execution providers, and checks the file against the manifest digest.
 */

export interface ModelPackage {
  dir: string;
  manifest: ModelManifest;
  variant: ModelVariant;
  /** Absolute path of the chosen variant's ONNX file. */
  modelPath: string;
}

export interface LoadModelPackageOptions {
  /** Use this variant instead of choosing one. */
  variantId?: string;
  /** Execution providers this machine can load. @defaultValue availableExecutionProviders() */
  available?: readonly string[];
  /** Check `sha256`/`sizeBytes` when the manifest has them. @defaultValue true */
  verifyDigest?: boolean;
}

/** Parses and validates a manifest (already-read JSON or text). */
export function parseManifest(json: unknown, where = 'manifest'): ModelManifest {
  let value = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json);
    } catch (err) {
      throw new DetectorError('DETECTOR_ERR_MANIFEST_INVALID', `${where}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  const parsed = modelManifestSchema.safeParse(value);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new DetectorError('DETECTOR_ERR_MANIFEST_INVALID', `${where}: ${detail}`, { cause: parsed.error });
  }
  return parsed.data;
}

/**
 * The variant to run here: an explicit `variantId`, or else, going down our execution-provider
 * preference (TensorRT, CUDA, CoreML, CPU), the first variant meant for a provider this machine has.
 */
export function chooseVariant(
  manifest: ModelManifest,
  options: { variantId?: string; available: readonly string[] },
): ModelVariant {
  if (options.variantId !== undefined) {
    const v = manifest.variants.find((x) => x.id === options.variantId);
    if (!v) {
      throw new DetectorError(
        'DETECTOR_ERR_VARIANT_NOT_FOUND',
        `${manifest.name} has no variant ${options.variantId} (has ${manifest.variants.map((x) => x.id).join(', ')})`,
      );
    }
    return v;
  }
  const available = new Set([...options.available, 'cpu']);
  for (const ep of DEFAULT_EP_PREFERENCE) {
    if (!available.has(ep)) continue;
    const v = manifest.variants.find((x) => (x.executionProviders as readonly string[]).includes(ep));
    if (v) return v;
  }
  throw new DetectorError(
    'DETECTOR_ERR_VARIANT_NOT_FOUND',
    `no variant of ${manifest.name} runs on ${[...available].join(', ')}`,
  );
}

export async function loadModelPackage(
  dir: string,
  options: LoadModelPackageOptions = {},
): Promise<ModelPackage> {
  const manifestPath = path.resolve(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (err) {
    throw new DetectorError('DETECTOR_ERR_MANIFEST_INVALID', `cannot read ${manifestPath}`, { cause: err });
  }
  const manifest = parseManifest(text, manifestPath);
  const variant = chooseVariant(manifest, {
    variantId: options.variantId,
    available: options.available ?? availableExecutionProviders(),
  });
  const modelPath = path.resolve(dir, variant.file);
  const rel = path.relative(path.resolve(dir), modelPath);
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new DetectorError(
      'DETECTOR_ERR_MANIFEST_INVALID',
      `variant file ${variant.file} is outside the package`,
    );
  }
  if ((options.verifyDigest ?? true) && (variant.sha256 || variant.sizeBytes)) {
    await verifyModelFile(modelPath, variant);
  }
  return { dir: path.resolve(dir), manifest, variant, modelPath };
}

async function verifyModelFile(file: string, variant: ModelVariant): Promise<void> {
  const bytes = await readFile(file);
  if (variant.sizeBytes !== undefined && bytes.length !== variant.sizeBytes) {
    throw new DetectorError(
      'DETECTOR_ERR_DIGEST_MISMATCH',
      `${file} is ${bytes.length} bytes, manifest says ${variant.sizeBytes}`,
    );
  }
  if (variant.sha256) {
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (digest !== variant.sha256) {
      throw new DetectorError(
        'DETECTOR_ERR_DIGEST_MISMATCH',
        `${file} has sha256 ${digest}, manifest says ${variant.sha256}`,
      );
    }
  }
}
