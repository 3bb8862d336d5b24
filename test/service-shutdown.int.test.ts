/**
 * Every service stops promptly whatever its clients left open. Node's `server.close()` waits on
 * any connection that has not finished a request, and never times out one that sent nothing (or
 * half a request head): without a cut-off, one such client — a crashed edge, a port scanner, a
 * load balancer's pre-opened socket — holds a shutdown until the supervisor kills the process.
 * Each service gives requests 2 s (`closeServer`) and then cuts what is left. Real services, real
 * sockets, real Redis for the edge.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig as loadEdgeConfig, startEdge, startTestRedis } from '@storevision/inference-edge';
import { loadConfig as loadHubConfig, startHub } from '@storevision/model-hub';
import { loadConfig as loadOrchestratorConfig, startOrchestrator } from '@storevision/orchestrator';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sv-shutdown-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Two stuck clients: one connected and silent, one that sent half a request head. */
async function stuckClients(url: string): Promise<net.Socket[]> {
  const { hostname, port } = new URL(url);
  const open = () =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(Number(port), hostname, () => resolve(s));
      s.once('error', reject);
    });
  const silent = await open();
  const half = await open();
  half.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
  // Both sockets are accepted by the server before it is asked to close.
  await new Promise((r) => setTimeout(r, 200));
  for (const s of [silent, half]) s.on('error', () => {});
  return [silent, half];
}

/** Seconds `close()` took, and whether the server cut the stuck sockets. */
async function timeClose(
  url: string,
  close: () => Promise<void>,
): Promise<{ seconds: number; cut: boolean }> {
  const sockets = await stuckClients(url);
  const ended = sockets.map((s) => new Promise<void>((r) => s.once('close', () => r())));
  const t = performance.now();
  await close();
  const seconds = (performance.now() - t) / 1000;
  const cut = await Promise.race([
    Promise.all(ended).then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 1000)),
  ]);
  for (const s of sockets) s.destroy();
  return { seconds, cut };
}

describe('service shutdown with stuck client connections', () => {
  it('the hub closes within its 2 s grace', async () => {
    const hub = await startHub(
      loadHubConfig(
        {},
        {
          port: 0,
          host: '127.0.0.1',
          dataDir: path.join(dir, 'hub'),
          adminToken: 'shutdown-admin-token-0123456789',
          logLevel: 'silent',
        },
      ),
    );
    const r = await timeClose(hub.url, () => hub.close());
    expect(r.cut).toBe(true);
    expect(r.seconds).toBeGreaterThanOrEqual(1.9);
    expect(r.seconds).toBeLessThan(5);
  }, 30_000);

  it('the orchestrator closes within its 2 s grace', async () => {
    const orchestrator = await startOrchestrator(
      loadOrchestratorConfig({}, { port: 0, host: '127.0.0.1', dataDir: path.join(dir, 'orchestrator') }),
      { logger: pino({ level: 'silent' }) },
    );
    const r = await timeClose(orchestrator.url, () => orchestrator.close());
    expect(r.cut).toBe(true);
    expect(r.seconds).toBeLessThan(5);
  }, 30_000);

  it('an edge closes within its 2 s grace', async () => {
    const redis = await startTestRedis();
    try {
      const edge = await startEdge(
        loadEdgeConfig(
          {},
          {
            port: 0,
            host: '127.0.0.1',
            redisUrl: redis.url,
            redisPrefix: 'shutdown',
            nodeId: 'shutdown-edge',
            dataDir: path.join(dir, 'edge'),
            cores: 1,
            logLevel: 'silent',
          },
        ),
      );
      const r = await timeClose(edge.url, () => edge.close());
      expect(r.cut).toBe(true);
      expect(r.seconds).toBeLessThan(5);
    } finally {
      await redis.dispose();
    }
  }, 60_000);
});
