/** JSON schemas for the OpenAPI description (responses are documented, not serialized by them). */
export const errorResponse = {
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' } },
  required: ['code', 'message'],
} as const;

export const cameraParams = {
  type: 'object',
  properties: { cameraId: { type: 'string', description: '1–64 of A-Z a-z 0-9 _ . -' } },
  required: ['cameraId'],
} as const;

export const modelParams = {
  type: 'object',
  properties: { name: { type: 'string', description: 'model name (kebab-case)' } },
  required: ['name'],
} as const;

const box = {
  type: 'object',
  properties: {
    x1: { type: 'number' },
    y1: { type: 'number' },
    x2: { type: 'number' },
    y2: { type: 'number' },
  },
} as const;

export const detection = {
  type: 'object',
  properties: {
    label: { type: 'string' },
    classId: { type: 'integer' },
    score: { type: 'number' },
    box,
    trackId: { type: 'integer' },
    appearance: {
      type: 'array',
      items: { type: 'number' },
      description:
        'colour descriptor (torso and legs chromaticity × brightness histograms, 64 shares) the tracker tells people apart with',
    },
  },
} as const;

/** Documents the binary image body of frames and detect. */
export const imageBody = {
  description: 'one JPEG or PNG image (content-type image/jpeg or image/png)',
  content: {
    'image/jpeg': { schema: { type: 'string', format: 'binary' } },
    'image/png': { schema: { type: 'string', format: 'binary' } },
  },
} as const;

export const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { description: 'error', ...errorResponse }]));
