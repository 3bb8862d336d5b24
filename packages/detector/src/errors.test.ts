import { describe, expect, it } from 'vitest';
import { DetectorError, detectorErrors, isDetectorError } from './errors.ts';

describe('detector error catalogue', () => {
  it('has stable DETECTOR_ERR_ codes, each with an HTTP status and a message', () => {
    for (const [code, def] of Object.entries(detectorErrors)) {
      expect(code).toMatch(/^DETECTOR_ERR_[A-Z0-9_]+$/);
      expect(def.statusCode).toBeGreaterThanOrEqual(400);
      expect(def.statusCode).toBeLessThan(600);
      expect(def.message.length).toBeGreaterThan(0);
    }
  });

  it('builds errors that carry code, status and detail', () => {
    const err = new DetectorError('DETECTOR_ERR_IMAGE_TOO_LARGE', '9000x9000');
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('DETECTOR_ERR_IMAGE_TOO_LARGE');
    expect(err.statusCode).toBe(413);
    expect(err.message).toContain('9000x9000');
    expect(isDetectorError(err, 'DETECTOR_ERR_IMAGE_TOO_LARGE')).toBe(true);
    expect(isDetectorError(err, 'DETECTOR_ERR_RELEASED')).toBe(false);
    expect(isDetectorError(new Error('x'))).toBe(false);
  });
});
