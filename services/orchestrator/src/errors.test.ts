import { describe, expect, it } from 'vitest';
import { isOrchError, OrchError, orchErrors } from './errors.ts';

describe('orchestrator error catalogue', () => {
  it('has stable ORCH_ERR_ codes with 4xx/5xx statuses and a message each', () => {
    for (const [code, { statusCode, message }] of Object.entries(orchErrors)) {
      expect(code).toMatch(/^ORCH_ERR_[A-Z_]+$/);
      expect(statusCode >= 400 && statusCode <= 599, code).toBe(true);
      expect(message.length, code).toBeGreaterThan(5);
    }
  });

  it('gives the documented status for each bad input of the issue', () => {
    expect(orchErrors.ORCH_ERR_UNKNOWN_STORE.statusCode).toBe(404);
    expect(orchErrors.ORCH_ERR_NO_PIPELINES.statusCode).toBe(400);
    expect(orchErrors.ORCH_ERR_BAD_CAPABILITIES.statusCode).toBe(400);
    expect(orchErrors.ORCH_ERR_LABEL_CONFLICT.statusCode).toBe(409);
    expect(orchErrors.ORCH_ERR_NODE_NOT_FOUND.statusCode).toBe(404);
  });

  it('carries code, status and detail', () => {
    const e = new OrchError('ORCH_ERR_UNKNOWN_STORE', 'store-9');
    expect(e).toMatchObject({ code: 'ORCH_ERR_UNKNOWN_STORE', statusCode: 404 });
    expect(e.message).toBe(`${orchErrors.ORCH_ERR_UNKNOWN_STORE.message}: store-9`);
    expect(isOrchError(e, 'ORCH_ERR_UNKNOWN_STORE')).toBe(true);
    expect(isOrchError(e, 'ORCH_ERR_INTERNAL')).toBe(false);
    expect(isOrchError(new Error('x'))).toBe(false);
  });
});
