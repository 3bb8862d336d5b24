import { describe, expect, it } from 'vitest';
import { EdgeError, edgeErrors, isEdgeError } from './errors.ts';

describe('edge error catalogue', () => {
  it('has stable EDGE_ERR_ codes with 4xx/5xx statuses and a message each', () => {
    for (const [code, { statusCode, message }] of Object.entries(edgeErrors)) {
      expect(code).toMatch(/^EDGE_ERR_[A-Z_]+$/);
      expect(statusCode >= 400 && statusCode <= 599, code).toBe(true);
      expect(message.length, code).toBeGreaterThan(5);
    }
  });

  it('gives the documented status for each bad input of the issue', () => {
    expect(edgeErrors.EDGE_ERR_BAD_IMAGE.statusCode).toBe(400);
    expect(edgeErrors.EDGE_ERR_BAD_CAMERA_ID.statusCode).toBe(400);
    expect(edgeErrors.EDGE_ERR_UNSUPPORTED_MEDIA_TYPE.statusCode).toBe(415);
    expect(edgeErrors.EDGE_ERR_BODY_TOO_LARGE.statusCode).toBe(413);
    expect(edgeErrors.EDGE_ERR_IMAGE_TOO_LARGE.statusCode).toBe(413);
    expect(edgeErrors.EDGE_ERR_MODEL_NOT_FOUND.statusCode).toBe(404);
    expect(edgeErrors.EDGE_ERR_REDIS_UNAVAILABLE.statusCode).toBe(503);
  });

  it('carries code, status, detail and Retry-After', () => {
    const e = new EdgeError('EDGE_ERR_REDIS_UNAVAILABLE', 'connection refused', { retryAfterSeconds: 2 });
    expect(e).toMatchObject({ code: 'EDGE_ERR_REDIS_UNAVAILABLE', statusCode: 503, retryAfterSeconds: 2 });
    expect(e.message).toBe(`${edgeErrors.EDGE_ERR_REDIS_UNAVAILABLE.message}: connection refused`);
    expect(isEdgeError(e, 'EDGE_ERR_REDIS_UNAVAILABLE')).toBe(true);
    expect(isEdgeError(e, 'EDGE_ERR_BUSY')).toBe(false);
    expect(isEdgeError(new Error('x'))).toBe(false);
  });
});
