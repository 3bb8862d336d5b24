import type { Readable } from 'node:stream';
import {
  aliasNameSchema,
  blobDigestSchema,
  canonicalJson,
  hubModelNameSchema,
  type ModelManifest,
  type ModelSummary,
  type PublishResult,
  type SignedModelVersion,
  semverSchema,
} from '@storevision/contracts';
import { isDetectorError, parseManifest } from '@storevision/detector';
import type { Logger } from 'pino';
import { HubError, isHubError } from '../errors.ts';
import type { HubMetrics } from '../metrics.ts';
import type { ModelRepository, VersionRecord } from '../repositories/model.repository.ts';
import type { SigningKey } from '../signing/signing-key.ts';
import type { BlobStore, StagedBlob } from '../storage/blob-store.ts';
import type { ModelValidator } from '../validation/model-validator.ts';
import { compareSemver } from './semver.ts';
import type { Principal } from './token.service.ts';

/** One part of a publish's multipart body, independent of the HTTP library. */
export type UploadPart =
  | { kind: 'file'; field: string; fileName: string; stream: Readable; truncated(): boolean }
  | { kind: 'field'; field: string; value: string };

export interface PublishOutcome {
  /** 201 for a new version, 200 when the same version with the same bytes and manifest was already there. */
  status: 200 | 201;
  body: PublishResult;
}

const MAX_MANIFEST_BYTES = 1024 * 1024;

/** The registry's logic: publish (validate, sign, store), read, aliases. Routes only delegate here. */
export class ModelService {
  private readonly repository: ModelRepository;
  private readonly blobs: BlobStore;
  private readonly validator: ModelValidator;
  private readonly signingKey: SigningKey;
  private readonly metrics: HubMetrics;
  private readonly logger: Logger;
  private readonly now: () => Date;

  constructor(opts: {
    repository: ModelRepository;
    blobs: BlobStore;
    validator: ModelValidator;
    signingKey: SigningKey;
    metrics: HubMetrics;
    logger: Logger;
    now?: () => Date;
  }) {
    this.repository = opts.repository;
    this.blobs = opts.blobs;
    this.validator = opts.validator;
    this.signingKey = opts.signingKey;
    this.metrics = opts.metrics;
    this.logger = opts.logger.child({ module: 'model-service' });
    this.now = opts.now ?? (() => new Date());
  }

  /**
   * Publishes a version from a multipart upload: the `model` file streams to a staged blob while
   * it is hashed, then the model is validated (ONNX parse, onnxruntime load, manifest vs graph),
   * signed, committed to the blob store and recorded. Whatever fails, the staged bytes are
   * removed and no row is written; a committed blob whose row could not be written is removed too
   * unless another version shares it.
   */
  async publish(
    name: string,
    parts: AsyncIterable<UploadPart>,
    principal: Principal,
  ): Promise<PublishOutcome> {
    let staged: StagedBlob | undefined;
    let committed = false;
    try {
      checkName(name);
      let fileName = 'model.onnx';
      let manifestText: string | undefined;
      let formVersion: string | undefined;
      for await (const part of parts) {
        if (part.kind === 'file' && part.field === 'model') {
          if (staged) throw new HubError('HUB_ERR_BAD_REQUEST', 'more than one model file part');
          // From the part's headers (its first bytes follow at once) to the file hashed, written, fsynced.
          const t0 = performance.now();
          staged = await this.blobs.stage(part.stream);
          this.metrics.uploadSeconds.observe((performance.now() - t0) / 1000);
          this.metrics.publishedBytes.inc(staged.sizeBytes);
          if (part.truncated()) throw new HubError('HUB_ERR_UPLOAD_TOO_LARGE');
          fileName = part.fileName || fileName;
        } else if (part.kind === 'file' && part.field === 'manifest') {
          manifestText = await readSmall(part.stream, MAX_MANIFEST_BYTES);
        } else if (part.kind === 'field' && part.field === 'manifest') manifestText = part.value;
        else if (part.kind === 'field' && part.field === 'version') formVersion = part.value.trim();
        else {
          if (part.kind === 'file') part.stream.resume();
          throw new HubError(
            'HUB_ERR_BAD_REQUEST',
            `unexpected ${part.kind} part "${part.field}" (expected model, manifest, version)`,
          );
        }
      }
      if (!staged) throw new HubError('HUB_ERR_MODEL_FILE_MISSING');
      if (staged.sizeBytes === 0) throw new HubError('HUB_ERR_NOT_ONNX', 'the file is empty');
      const given = manifestText === undefined ? undefined : parseGivenManifest(manifestText);
      if (given && given.name !== name)
        throw new HubError(
          'HUB_ERR_MANIFEST_INVALID',
          `manifest name is ${given.name}, publishing as ${name}`,
        );
      const version = resolveVersion(formVersion, given?.version);
      const hex = staged.digest.slice('sha256:'.length);

      const existing = await this.repository.getVersion(name, version);
      if (existing && existing.digest !== staged.digest)
        throw new HubError(
          'HUB_ERR_VERSION_EXISTS',
          `${name}@${version} is ${existing.digest}, upload is ${staged.digest}`,
        );

      const t0 = performance.now();
      let validated: Awaited<ReturnType<ModelValidator['validate']>>;
      try {
        validated = await this.validator.validate({
          file: staged.path,
          fileName: baseName(fileName),
          name,
          version,
          sha256: hex,
          sizeBytes: staged.sizeBytes,
          ...(given ? { manifest: given } : {}),
        });
        this.metrics.validationSeconds.observe({ result: 'ok' }, (performance.now() - t0) / 1000);
      } catch (err) {
        this.metrics.validationSeconds.observe({ result: 'rejected' }, (performance.now() - t0) / 1000);
        throw err;
      }
      const manifest = normalizeManifest(validated.manifest, {
        name,
        version,
        fileName,
        hex,
        size: staged.sizeBytes,
      });
      const body = { name, version, digest: staged.digest };

      if (existing) return this.unchangedOrConflict(existing, manifest, body);

      const signature = this.signingKey.sign({ ...body, manifest });
      const { created } = await staged.commit();
      committed = true;
      let inserted: boolean;
      try {
        inserted = await this.repository.insertVersion({
          ...body,
          sizeBytes: staged.sizeBytes,
          manifestJson: JSON.stringify(manifest),
          signature: signature.value,
          signingKeyId: signature.keyId,
          createdAt: this.now().toISOString(),
          createdBy: principal.tokenId,
        });
      } catch (err) {
        await this.removeIfOrphan(staged.digest, created);
        throw err;
      }
      if (!inserted) {
        // Another publish of the same version won the race between our check and our insert.
        const winner = await this.repository.getVersion(name, version);
        if (winner?.digest !== staged.digest) await this.removeIfOrphan(staged.digest, created);
        if (!winner) throw new HubError('HUB_ERR_INTERNAL', 'version vanished after a conflicting insert');
        return this.unchangedOrConflict(winner, manifest, body);
      }
      this.metrics.publishes.inc({ result: 'created' });
      this.logger.info(
        {
          name,
          version,
          digest: staged.digest,
          sizeBytes: staged.sizeBytes,
          imported: validated.imported,
          by: principal.tokenId,
        },
        'model version published',
      );
      return { status: 201, body };
    } catch (err) {
      this.metrics.publishes.inc({ result: isHubError(err) ? err.code : 'HUB_ERR_INTERNAL' });
      throw err;
    } finally {
      if (staged && !committed) await staged.discard();
    }
  }

  private unchangedOrConflict(
    existing: VersionRecord,
    manifest: ModelManifest,
    body: PublishResult,
  ): PublishOutcome {
    if (
      existing.digest === body.digest &&
      canonicalJson(JSON.parse(existing.manifestJson)) === canonicalJson(manifest)
    ) {
      this.metrics.publishes.inc({ result: 'unchanged' });
      return { status: 200, body };
    }
    throw new HubError(
      'HUB_ERR_VERSION_EXISTS',
      existing.digest === body.digest
        ? `${body.name}@${body.version} has the same bytes but another manifest`
        : `${body.name}@${body.version} is ${existing.digest}, upload is ${body.digest}`,
    );
  }

  private async removeIfOrphan(digest: string, createdByUs: boolean): Promise<void> {
    if (!createdByUs) return;
    try {
      if (!(await this.repository.digestReferenced(digest))) await this.blobs.delete(digest);
    } catch (err) {
      this.logger.warn({ err, digest }, 'could not remove an unreferenced blob after a failed publish');
    }
  }

  async listModels(): Promise<ModelSummary[]> {
    const models = await this.repository.listModels();
    return models
      .filter((m) => m.versions.length > 0)
      .map((m) => ({
        name: m.name,
        latestVersion: m.versions
          .map((v) => v.version)
          .sort(compareSemver)
          .at(-1)!,
        versions: m.versions.length,
        aliases: m.aliases,
        updatedAt: m.updatedAt,
      }));
  }

  /** Versions of one model, newest (by semver) first, without manifests. */
  async listVersions(name: string) {
    checkName(name);
    const [versions, aliases] = await Promise.all([
      this.repository.listVersions(name),
      this.repository.aliasesOf(name),
    ]);
    if (versions.length === 0) throw new HubError('HUB_ERR_MODEL_NOT_FOUND', name);
    return versions
      .sort((a, b) => compareSemver(b.version, a.version))
      .map((v) => ({
        name: v.name,
        version: v.version,
        digest: v.digest,
        sizeBytes: v.sizeBytes,
        createdAt: v.createdAt,
        aliases: aliasesPointingAt(aliases, v.version),
      }));
  }

  /** One version, by version or alias (`stable`); what an edge downloads and verifies. */
  async getVersion(name: string, ref: string): Promise<SignedModelVersion> {
    checkName(name);
    const version = await this.resolve(name, ref);
    const v = await this.repository.getVersion(name, version);
    if (!v) throw new HubError('HUB_ERR_VERSION_NOT_FOUND', `${name}@${ref}`);
    const aliases = await this.repository.aliasesOf(name);
    return {
      name: v.name,
      version: v.version,
      digest: v.digest,
      sizeBytes: v.sizeBytes,
      manifest: JSON.parse(v.manifestJson) as ModelManifest,
      signature: { algorithm: 'ed25519', keyId: v.signingKeyId, value: v.signature },
      createdAt: v.createdAt,
      aliases: aliasesPointingAt(aliases, v.version),
    };
  }

  /** A version string for `ref`: itself when it is a semver, else the version the alias points at. */
  async resolve(name: string, ref: string): Promise<string> {
    if (semverSchema.safeParse(ref).success) return ref;
    if (!aliasNameSchema.safeParse(ref).success)
      throw new HubError('HUB_ERR_BAD_VERSION', `"${ref}" is neither a version nor an alias`);
    const version = await this.repository.getAlias(name, ref);
    if (!version) throw new HubError('HUB_ERR_VERSION_NOT_FOUND', `${name}@${ref}`);
    return version;
  }

  async setAlias(
    name: string,
    alias: string,
    version: unknown,
  ): Promise<{ name: string; alias: string; version: string }> {
    checkName(name);
    if (!aliasNameSchema.safeParse(alias).success)
      throw new HubError('HUB_ERR_BAD_ALIAS', JSON.stringify(alias));
    const v = semverSchema.safeParse(version);
    if (!v.success) throw new HubError('HUB_ERR_BAD_VERSION', JSON.stringify(version ?? null));
    if (!(await this.repository.getVersion(name, v.data)))
      throw new HubError('HUB_ERR_VERSION_NOT_FOUND', `${name}@${v.data}`);
    await this.repository.setAlias(name, alias, v.data, this.now().toISOString());
    this.logger.info({ name, alias, version: v.data }, 'alias moved');
    return { name, alias, version: v.data };
  }

  async blobInfo(digest: string): Promise<{ sizeBytes: number }> {
    if (!blobDigestSchema.safeParse(digest).success) throw new HubError('HUB_ERR_BAD_DIGEST', digest);
    const s = await this.blobs.stat(digest);
    if (!s) throw new HubError('HUB_ERR_BLOB_NOT_FOUND', digest);
    return s;
  }

  readBlob(digest: string, range?: { start: number; end: number }): Readable {
    return this.blobs.read(digest, range);
  }
}

function checkName(name: string): void {
  if (!hubModelNameSchema.safeParse(name).success)
    throw new HubError('HUB_ERR_BAD_MODEL_NAME', JSON.stringify(name));
}

function parseGivenManifest(text: string): ModelManifest {
  try {
    return parseManifest(text);
  } catch (err) {
    if (isDetectorError(err)) throw new HubError('HUB_ERR_MANIFEST_INVALID', err.message, { cause: err });
    throw err;
  }
}

function resolveVersion(form: string | undefined, manifest: string | undefined): string {
  if (form !== undefined && manifest !== undefined && form !== manifest)
    throw new HubError('HUB_ERR_BAD_VERSION', `form says ${form}, manifest says ${manifest}`);
  const v = form ?? manifest;
  if (v === undefined) throw new HubError('HUB_ERR_BAD_VERSION', 'give a version field or a manifest');
  if (!semverSchema.safeParse(v).success) throw new HubError('HUB_ERR_BAD_VERSION', JSON.stringify(v));
  return v;
}

/** Only the last path segment of an uploaded file name; it becomes the variant's file name. */
function baseName(fileName: string): string {
  const b = fileName.split(/[\\/]/).at(-1) ?? '';
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(b) && !b.includes('..') ? b : 'model.onnx';
}

/**
 * The manifest the hub stores and signs: this name and version, and exactly one variant — the
 * uploaded file — with the blob's sha256 and size, so an edge checks its download against the
 * signed manifest alone. A manifest listing several variants must say which one the file is
 * (by `sha256`, or by `file` matching the uploaded name).
 */
function normalizeManifest(
  m: ModelManifest,
  u: { name: string; version: string; fileName: string; hex: string; size: number },
): ModelManifest {
  const byDigest = m.variants.filter((v) => v.sha256 === u.hex);
  const byFile = m.variants.filter((v) => v.file === baseName(u.fileName));
  const variant =
    m.variants.length === 1 ? m.variants[0]! : (byDigest[0] ?? (byFile.length === 1 ? byFile[0] : undefined));
  if (!variant)
    throw new HubError(
      'HUB_ERR_MANIFEST_INVALID',
      `the manifest lists ${m.variants.length} variants and none names the uploaded file (${u.fileName}) or its sha256`,
    );
  if (variant.sha256 !== undefined && variant.sha256 !== u.hex)
    throw new HubError(
      'HUB_ERR_MANIFEST_MISMATCH',
      `variants.${variant.id}.sha256 is ${variant.sha256}, the file's is ${u.hex}`,
    );
  if (variant.sizeBytes !== undefined && variant.sizeBytes !== u.size)
    throw new HubError(
      'HUB_ERR_MANIFEST_MISMATCH',
      `variants.${variant.id}.sizeBytes is ${variant.sizeBytes}, the file has ${u.size}`,
    );
  const file =
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(variant.file) && !variant.file.includes('..')
      ? variant.file
      : baseName(u.fileName);
  return {
    ...m,
    name: u.name,
    version: u.version,
    variants: [{ ...variant, file, sha256: u.hex, sizeBytes: u.size }],
  };
}

function aliasesPointingAt(aliases: Record<string, string>, version: string): string[] {
  return Object.entries(aliases)
    .filter(([, v]) => v === version)
    .map(([a]) => a)
    .sort();
}

async function readSmall(stream: Readable, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > max) {
      stream.resume();
      throw new HubError('HUB_ERR_MANIFEST_INVALID', `manifest larger than ${max} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
