import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HubError, hubErrors, isHubError } from './errors.ts';

describe('hub error catalogue', () => {
  it('has stable HUB_ERR_ codes with 4xx/5xx statuses and a message each', () => {
    for (const [code, { statusCode, message }] of Object.entries(hubErrors)) {
      expect(code).toMatch(/^HUB_ERR_[A-Z_]+$/);
      expect(statusCode >= 400 && statusCode <= 599, code).toBe(true);
      expect(message.length, code).toBeGreaterThan(5);
    }
  });

  it('gives the documented status for each bad input of the issue', () => {
    expect(hubErrors.HUB_ERR_NOT_ONNX.statusCode).toBe(422);
    expect(hubErrors.HUB_ERR_ONNX_REJECTED.statusCode).toBe(422);
    expect(hubErrors.HUB_ERR_MANIFEST_MISMATCH.statusCode).toBe(422);
    expect(hubErrors.HUB_ERR_BAD_MODEL_NAME.statusCode).toBe(400);
    expect(hubErrors.HUB_ERR_UPLOAD_TOO_LARGE.statusCode).toBe(413);
    expect(hubErrors.HUB_ERR_FORBIDDEN.statusCode).toBe(403);
    expect(hubErrors.HUB_ERR_UNAUTHORIZED.statusCode).toBe(401);
    expect(hubErrors.HUB_ERR_VERSION_EXISTS.statusCode).toBe(409);
    expect(hubErrors.HUB_ERR_RANGE_NOT_SATISFIABLE.statusCode).toBe(416);
  });

  it('documents every code in the README', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const code of Object.keys(hubErrors)) expect(readme, code).toContain(`\`${code}\``);
  });

  it('carries code, status and detail', () => {
    const e = new HubError('HUB_ERR_VERSION_EXISTS', 'person-detector@1.0.0');
    expect(e).toMatchObject({ code: 'HUB_ERR_VERSION_EXISTS', statusCode: 409 });
    expect(e.message).toBe(`${hubErrors.HUB_ERR_VERSION_EXISTS.message}: person-detector@1.0.0`);
    expect(isHubError(e, 'HUB_ERR_VERSION_EXISTS')).toBe(true);
    expect(isHubError(e, 'HUB_ERR_INTERNAL')).toBe(false);
    expect(isHubError(new Error('x'))).toBe(false);
  });
});
