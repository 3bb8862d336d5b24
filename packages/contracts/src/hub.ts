import { createPublicKey, verify } from 'node:crypto';
import { z } from 'zod';
import { type ModelManifest, modelManifestSchema, modelNameSchema, semverSchema } from './manifest.ts';

/**
 * The model hub's HTTP bodies (ARCHITECTURE.md, "model-hub"), shared by the hub, the CLI and the
 * edge's model agent, plus the one function an edge needs to trust what it downloads:
 * `verifyModelSignature`.
 */

/**
 * Model names in the hub are the manifest's names (lower-case kebab-case, ≤ 63 characters): a
 * published version carries its manifest, so a name the manifest schema refuses could never be
 * published. Names never become file paths (blobs are content-addressed), and the pattern admits
 * no `/`, `\`, `.` or `%`.
 */
export const hubModelNameSchema = modelNameSchema;

/** Alias names (`stable`, `canary`): they start with a letter, so `name@ref` is never ambiguous with a version. */
export const aliasNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'aliases are 1–32 of a-z 0-9 -, starting with a letter');

/** Blob digests as the hub writes them: `sha256:` and 64 lower-case hex digits. */
export const blobDigestSchema = z
  .string()
  .regex(/^sha256:[a-f0-9]{64}$/, 'digest must be sha256:<64 hex digits>');

export const hubRoleSchema = z.enum(['viewer', 'node', 'publisher', 'admin']);
export type HubRole = z.infer<typeof hubRoleSchema>;

/**
 * What each role may do, lowest first: a role may do everything the roles before it may.
 * viewer reads metadata (managers), node also downloads blobs (edges), publisher also publishes and
 * moves aliases (data scientists), admin also issues tokens.
 */
export const HUB_ROLE_ORDER: readonly HubRole[] = ['viewer', 'node', 'publisher', 'admin'];

/** 201/200 answer to `POST /v1/models/{name}/versions`. */
export const publishResultSchema = z.object({
  name: hubModelNameSchema,
  version: semverSchema,
  digest: blobDigestSchema,
});
export type PublishResult = z.infer<typeof publishResultSchema>;

export const modelSignatureSchema = z.object({
  algorithm: z.literal('ed25519'),
  /** First 16 hex digits of the sha256 of the public key (SPKI DER): which key signed. */
  keyId: z.string(),
  /** Base64 of the signature over `signingPayload(version)`. */
  value: z.string().min(1),
});
export type ModelSignature = z.infer<typeof modelSignatureSchema>;

/** One published version: `GET /v1/models/{name}/versions/{version}`. */
export const signedModelVersionSchema = z.object({
  name: hubModelNameSchema,
  version: semverSchema,
  digest: blobDigestSchema,
  sizeBytes: z.number().int().positive(),
  /** The manifest as the hub validated it: one variant, whose `sha256`/`sizeBytes` are the blob's. */
  manifest: modelManifestSchema,
  signature: modelSignatureSchema,
  createdAt: z.string(),
  /** Aliases pointing at this version. */
  aliases: z.array(aliasNameSchema).default([]),
});
export type SignedModelVersion = z.infer<typeof signedModelVersionSchema>;

export const modelSummarySchema = z.object({
  name: hubModelNameSchema,
  latestVersion: semverSchema,
  versions: z.number().int().nonnegative(),
  aliases: z.record(z.string(), semverSchema),
  updatedAt: z.string(),
});
export type ModelSummary = z.infer<typeof modelSummarySchema>;

export const setAliasRequestSchema = z.object({ version: semverSchema });

export const createTokenRequestSchema = z.object({
  role: hubRoleSchema,
  /** Who or what holds it, e.g. `store-17-edge-a`. */
  label: z.string().min(1).max(200).optional(),
  /** Lifetime; none means it does not expire. */
  expiresInSeconds: z
    .number()
    .int()
    .positive()
    .max(10 * 365 * 86_400)
    .optional(),
  /**
   * Store scope (viewer and node tokens only): the token sees and writes these stores and no
   * others. None means every store (a head-office viewer, an unscoped node).
   */
  stores: z
    .array(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'store id must be 1–64 of A-Z a-z 0-9 _ . -'))
    .min(1)
    .max(1000)
    .optional(),
});
export type CreateTokenRequest = z.infer<typeof createTokenRequestSchema>;

export const createdTokenSchema = z.object({
  id: z.string(),
  /** The secret itself, shown once; the hub keeps only its sha256. */
  token: z.string(),
  role: hubRoleSchema,
  label: z.string().nullable(),
  expiresAt: z.string().nullable(),
  /** The store scope; null (or absent, from older hubs) means every store. */
  stores: z.array(z.string()).nullable().optional(),
});
export type CreatedToken = z.infer<typeof createdTokenSchema>;

/**
 * JSON with object keys sorted (recursively), no whitespace, `undefined` members dropped — the
 * RFC 8785 (JCS) shape for the values a manifest holds (strings, finite numbers, booleans, null).
 * Producer and verifier both sign/verify these bytes, so key order in storage never matters.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The bytes the hub signs for a version: canonical JSON of `{name, version, digest, manifest}`. */
export function signingPayload(v: {
  name: string;
  version: string;
  digest: string;
  manifest: ModelManifest | Record<string, unknown>;
}): Buffer {
  return Buffer.from(
    canonicalJson({ name: v.name, version: v.version, digest: v.digest, manifest: v.manifest }),
    'utf8',
  );
}

/**
 * Checks a version's ed25519 signature against the hub's public key (PEM, as served at
 * `GET /v1/signing-key`). False for an unsigned, tampered or foreign-signed version, and for a
 * manifest whose variant does not name the signed digest; never throws on bad input.
 */
export function verifyModelSignature(
  publicKeyPem: string,
  signed: Pick<SignedModelVersion, 'name' | 'version' | 'digest' | 'manifest'> & {
    signature?: Partial<ModelSignature> | null;
  },
): boolean {
  const sig = signed.signature;
  if (sig?.algorithm !== 'ed25519' || typeof sig.value !== 'string') return false;
  // The digest the edge checks its download against must be the one the manifest describes.
  const hex = signed.digest.replace(/^sha256:/, '');
  if (!signed.manifest.variants.every((v) => v.sha256 === hex)) return false;
  try {
    const key = createPublicKey(publicKeyPem);
    if (key.asymmetricKeyType !== 'ed25519') return false;
    return verify(null, signingPayload(signed), key, Buffer.from(sig.value, 'base64'));
  } catch {
    return false;
  }
}
