import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LocalRedis } from '../redis/local-redis.ts';

/**
 * A real `redis-server` of the test's own: a free port, a temp folder, no persistence
 * (`--save '' --appendonly no`). `stop()` can be followed by `start()` on the same port
 * (Redis restart tests); `dispose()` stops it and removes the folder.
 */
export interface TestRedis {
  server: LocalRedis;
  url: string;
  dispose(): Promise<void>;
}

export async function startTestRedis(): Promise<TestRedis> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sv-redis-'));
  const server = await LocalRedis.start({ dir, persistence: false });
  return {
    server,
    url: server.url,
    dispose: async () => {
      await server.stop('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
