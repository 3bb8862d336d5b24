import { EdgeError, isEdgeError } from '../errors.ts';

/**
 * Runs a Redis operation for a request; any Redis failure (connection refused or lost, offline
 * queue disabled, command timeout) becomes a 503 with `Retry-After`. The connections reconnect by
 * themselves, so the next request after Redis returns simply works.
 */
export async function withRedis<T>(retryAfterSeconds: number, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isEdgeError(err)) throw err;
    throw new EdgeError('EDGE_ERR_REDIS_UNAVAILABLE', (err as Error).message, {
      cause: err,
      retryAfterSeconds,
    });
  }
}
