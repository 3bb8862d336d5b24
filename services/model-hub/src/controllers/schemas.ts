/** JSON schemas for the OpenAPI description (responses are documented, not serialized by them). */
export const errorResponse = {
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' } },
  required: ['code', 'message'],
} as const;

export const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { description: 'error', ...errorResponse }]));

export const nameParams = {
  type: 'object',
  properties: { name: { type: 'string', description: 'model name: a-z 0-9 -, at most 63 characters' } },
  required: ['name'],
} as const;

export const versionParams = {
  type: 'object',
  properties: {
    name: nameParams.properties.name,
    ref: { type: 'string', description: 'a semantic version (1.3.0) or an alias (stable)' },
  },
  required: ['name', 'ref'],
} as const;

export const aliasParams = {
  type: 'object',
  properties: { name: nameParams.properties.name, alias: { type: 'string' } },
  required: ['name', 'alias'],
} as const;

export const publishResult = {
  type: 'object',
  properties: { name: { type: 'string' }, version: { type: 'string' }, digest: { type: 'string' } },
} as const;

export const signedVersion = {
  type: 'object',
  description: 'manifest + digest, signed with the hub key (verify with verifyModelSignature)',
  properties: {
    name: { type: 'string' },
    version: { type: 'string' },
    digest: { type: 'string' },
    sizeBytes: { type: 'integer' },
    manifest: { type: 'object', additionalProperties: true },
    signature: {
      type: 'object',
      properties: { algorithm: { type: 'string' }, keyId: { type: 'string' }, value: { type: 'string' } },
    },
    createdAt: { type: 'string' },
    aliases: { type: 'array', items: { type: 'string' } },
  },
} as const;

/** Every protected route names its least role; `public` routes need no token. */
export const bearer = [{ bearer: [] }];
