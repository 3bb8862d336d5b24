/**
 * `storevision up` end to end, in-process (`startPlatform`): a real Redis, hub, orchestrator, two
 * real `storevision edge` processes and three simulated cameras. Within seconds the cameras'
 * frames are analysed on the edges the orchestrator chose, the edges' events reach the hub, and
 * stopping leaves nothing running. A second start on the same data folder reuses it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CameraAnalyticsState } from '@storevision/contracts';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningPlatform, startPlatform } from '../packages/cli/src/platform/platform.ts';
import { until } from './support.ts';

let dataDir: string;
let platform: RunningPlatform | undefined;

afterAll(async () => {
  await platform?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const options = () => ({
  dataDir,
  stores: 1,
  cameras: 3,
  fps: 4,
  width: 640,
  height: 360,
  loopSeconds: 4,
  hubPort: 0,
  orchestratorPort: 0,
  timezone: 'Asia/Shanghai',
  heartbeatTimeoutMs: 4000,
});

describe('storevision up', () => {
  it('runs a store end to end: cameras placed, frames analysed, events in the hub; stops cleanly', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'sv-up-'));
    platform = await startPlatform(options());
    const p = platform;
    expect(p.edges.map((e) => e.nodeId)).toEqual(['store-1-a', 'store-1-b']);
    expect(p.cameras.map((c) => c.cameraId)).toEqual(['entrance-1', 'aisle-1', 'checkout-1']);

    // Every camera is analysed on one of the store's edges: the owner the orchestrator chose (a
    // frame pushed to the other edge is forwarded to it).
    for (const c of p.cameras) {
      const state = await until(
        `${c.cameraId} analysed`,
        async () => {
          for (const e of p.edges) {
            const res = await fetch(`${e.process.url}/v1/cameras/${c.cameraId}/analytics`);
            if (!res.ok) continue;
            const s = (await res.json()) as CameraAnalyticsState;
            if (s.frames.analysed >= 5) return s;
          }
          return undefined;
        },
        60_000,
      );
      expect(state).toMatchObject({ storeId: 'store-1', timezone: 'Asia/Shanghai' });
      expect(Object.keys(state.zones).length).toBeGreaterThan(0);
    }
    const { placements } = (await (await fetch(`${p.orchestrator.url}/v1/placements`)).json()) as {
      placements: Array<{ storeId: string; pipelines: unknown[] }>;
    };
    expect(placements.find((s) => s.storeId === 'store-1')?.pipelines).toHaveLength(3);

    // The edges' events reach the hub: the store reports its nodes and a last event time.
    const store = await until(
      'events in the hub',
      async () => {
        const res = await fetch(`${p.hub.url}/v1/stores`, {
          headers: { authorization: `Bearer ${p.adminToken}` },
        });
        const body = (await res.json()) as {
          stores: Array<{
            storeId: string;
            timezone: string;
            lastEventTime: string | null;
            nodes: { up: number };
          }>;
        };
        const s = body.stores.find((x) => x.storeId === 'store-1');
        return s?.lastEventTime ? s : undefined;
      },
      60_000,
    );
    expect(store).toMatchObject({ timezone: 'Asia/Shanghai', nodes: { up: 2 } });

    const pids = [...p.edges.map((e) => e.process.pid)];
    await p.stop();
    platform = undefined;
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(p.redis.running).toBe(false);
  }, 180_000);

  it('a second up on the same data folder reuses the published model and rendered loops', async () => {
    const t0 = Date.now();
    platform = await startPlatform(options());
    // The loops are cached and the model version already stored: no rendering, an idempotent publish.
    expect(platform.model).toEqual({
      name: 'person-detector',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    });
    const versions = (await (
      await fetch(`${platform.hub.url}/v1/models/person-detector/versions`, {
        headers: { authorization: `Bearer ${platform.adminToken}` },
      })
    ).json()) as { versions: unknown[] };
    expect(versions.versions).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(120_000);
    await platform.stop();
    platform = undefined;
  }, 180_000);
});
