import path from 'node:path';
import v8 from 'node:v8';
import type { EdgeConfig } from './config.ts';
import { createEdgeNode, type EdgeNode, type EdgeNodeOptions } from './node.ts';
import { LocalRedis } from './redis/local-redis.ts';

export interface RunningEdge {
  node: EdgeNode;
  /** Base URL it listens on. */
  url: string;
  /** The embedded Redis, when this edge started one. */
  redis?: LocalRedis;
  close(): Promise<void>;
}

/**
 * Starts one edge node and listens: an embedded `redis-server` (AOF on, `<dataDir>/redis`) unless
 * `redisUrl` is set, the node, then the HTTP port. Models keep loading after this resolves;
 * `/readyz` turns 200 when they are warm.
 */
export async function startEdge(config: EdgeConfig, opts: EdgeNodeOptions = {}): Promise<RunningEdge> {
  // Process-wide, and set every time: 0 (V8's heuristic, the flag's own default) must undo a
  // value an earlier edge of the same process set.
  v8.setFlagsFromString(`--heap-growing-percent=${config.heapGrowthPercent}`);
  let redis: LocalRedis | undefined;
  let redisUrl = config.redisUrl;
  if (!redisUrl) {
    redis = await LocalRedis.start({ dir: path.resolve(config.dataDir, 'redis'), persistence: true });
    redisUrl = redis.url;
  }
  let node: EdgeNode;
  try {
    node = await createEdgeNode(Object.freeze({ ...config, redisUrl }), opts);
  } catch (err) {
    await redis?.stop();
    throw err;
  }
  if (redis) node.logger.info({ url: redis.url }, 'started embedded redis-server');
  node.logger.info({ heapGrowthPercent: config.heapGrowthPercent }, 'V8 heap growth (0: its own heuristic)');
  try {
    const address = await node.app.listen({ port: config.port, host: config.host });
    node.logger.info({ url: address }, 'edge listening');
    const port = (node.app.server.address() as { port: number }).port;
    const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
    void node.startAgent(url);
    return {
      node,
      url,
      ...(redis ? { redis } : {}),
      close: async () => {
        await node.close();
        await redis?.stop();
      },
    };
  } catch (err) {
    await node.close();
    await redis?.stop();
    throw err;
  }
}
