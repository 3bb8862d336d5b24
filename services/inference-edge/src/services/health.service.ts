import type { Redis } from 'ioredis';
import type { InferencePool } from '../inference/pool.ts';

export interface Readiness {
  ready: boolean;
  models: boolean;
  redis: boolean;
}

/** Liveness and readiness: ready once every model is loaded and warmed up and Redis answers. */
export class HealthService {
  readonly #redis: Redis;
  readonly #pool: InferencePool;
  readonly #timeoutMs: number;

  constructor(opts: { redis: Redis; pool: InferencePool; pingTimeoutMs?: number }) {
    this.#redis = opts.redis;
    this.#pool = opts.pool;
    this.#timeoutMs = opts.pingTimeoutMs ?? 1000;
  }

  async readiness(): Promise<Readiness> {
    const models = this.#pool.ready;
    const redis = await this.redisAnswers();
    return { ready: models && redis, models, redis };
  }

  async redisAnswers(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('ping timeout')), this.#timeoutMs);
      });
      return (await Promise.race([this.#redis.ping(), timeout])) === 'PONG';
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}
