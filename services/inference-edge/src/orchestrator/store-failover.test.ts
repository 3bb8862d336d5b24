import type { NodeAssignment } from '@storevision/contracts';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { isEdgeError } from '../errors.ts';
import { EdgeMetrics } from '../metrics.ts';
import { FrameService, type FrameServiceOptions } from '../services/frame.service.ts';
import { CameraOwnership } from './camera-ownership.ts';
import { FrameForwarder } from './frame-forwarder.ts';
import { localOwner, StoreFailover } from './store-failover.ts';

const store: NodeAssignment['store'] = {
  nodes: ['d', 'b', 'a', 'c', 'e'].map((id) => ({
    nodeId: id,
    address: `http://${id}.store:8080`,
    status: id === 'e' ? ('lost' as const) : ('ready' as const),
  })),
  owners: { cam1: ['b'], cam2: ['d'], cam3: [] },
  analytics: {},
};
const downs =
  (...ids: string[]) =>
  (id: string) =>
    ids.includes(id);

describe('store-local failover rule', () => {
  it('keeps the planned owner while it is up', () => {
    expect(localOwner(store, 'cam1', downs())).toBe('b');
    expect(localOwner(store, 'cam3', downs())).toBeUndefined();
  });

  it('moves a down owner’s camera to the next ready node in sorted id order after the owner, wrapping', () => {
    expect(localOwner(store, 'cam1', downs('b'))).toBe('c');
    expect(localOwner(store, 'cam1', downs('b', 'c'))).toBe('d');
    // After d comes e (lost in the plan: skipped), then around to a.
    expect(localOwner(store, 'cam2', downs('d'))).toBe('a');
    expect(localOwner(store, 'cam2', downs('d', 'a', 'b', 'c'))).toBeUndefined();
  });
});

describe('StoreFailover', () => {
  const logger = pino({ level: 'silent' });
  function setup() {
    let now = 1_000_000;
    const up = new Set(['a', 'c', 'd']);
    const f = new StoreFailover({
      nodeId: 'a',
      store: () => store,
      probeIntervalMs: 60_000, // rounds are driven by hand below
      downAfterMs: 3000,
      logger,
      now: () => now,
      fetch: (async (url: string) => {
        const host = new URL(url).hostname.split('.')[0]!;
        if (!up.has(host)) throw new TypeError('fetch failed');
        return new Response('{"status":"ok"}');
      }) as typeof fetch,
    });
    return { f, up, tick: (ms: number) => (now += ms) };
  }

  it('counts a peer down only while the orchestrator is unreachable and after downAfterMs of failed probes', async () => {
    const { f, tick } = setup();
    await f.probeOnce();
    tick(10_000);
    expect(f.isDown('b')).toBe(false); // the orchestrator answers: its plan decides
    f.orchestratorReachable(false);
    await f.probeOnce();
    expect(f.isDown('b')).toBe(false);
    tick(2999);
    await f.probeOnce();
    expect(f.isDown('b')).toBe(false);
    tick(1);
    expect(f.isDown('b')).toBe(true);
    expect(f.isDown('c')).toBe(false);
    expect(f.isDown('a')).toBe(false); // never itself
    f.orchestratorReachable(true);
    expect(f.isDown('b')).toBe(false);
    f.close();
  });

  it('a peer that answers again is up at once', async () => {
    const { f, up, tick } = setup();
    f.orchestratorReachable(false);
    await f.probeOnce();
    tick(5000);
    expect(f.isDown('b')).toBe(true);
    up.add('b');
    await f.probeOnce();
    expect(f.isDown('b')).toBe(false);
    f.close();
  });

  it('routes a down owner’s camera to this node when the rule picks it, and forwards otherwise', () => {
    const down = new Set<string>();
    const o = new CameraOwnership({ models: ['person-detector'], isPeerDown: (id) => down.has(id) });
    o.set({ nodeId: 'c', storeId: 's1', version: 1, planVersion: 1, cameras: [], store });
    expect(o.route('cam1')).toEqual({
      kind: 'remote',
      nodeId: 'b',
      frameUrl: 'http://b.store:8080/v1/cameras/cam1/frames',
    });
    down.add('b');
    expect(o.route('cam1')).toEqual({ kind: 'local', models: ['person-detector'], adopted: true });
    expect(o.route('cam2')).toMatchObject({ kind: 'remote', nodeId: 'd' });
    expect(o.route('cam3')).toEqual({ kind: 'none', storeId: 's1' });
  });
});

describe('frame routing in FrameService', () => {
  const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);
  const ownership = new CameraOwnership({ models: ['person-detector'], retryAfterSeconds: 4 });
  ownership.set({ nodeId: 'c', storeId: 's1', version: 1, planVersion: 1, cameras: [], store });
  const service = (forwarder?: FrameForwarder) =>
    new FrameService({
      // Never reached: every frame below is routed away before it is stored.
      repository: undefined as unknown as FrameServiceOptions['repository'],
      queue: undefined as unknown as FrameServiceOptions['queue'],
      metrics: new EdgeMetrics({ nodeId: 'c' }),
      models: ['person-detector'],
      route: (cam) => ownership.route(cam),
      ...(forwarder ? { forwarder } : {}),
      maxPixels: 1e7,
      retryAfterSeconds: 4,
    });
  const refusal = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (err) {
      return err as { code: string; statusCode: number; location?: string; retryAfterSeconds?: number };
    }
    throw new Error('expected a refusal');
  };
  const frame = (cameraId: string, forwardedBy?: string) => ({
    cameraId,
    contentType: 'image/jpeg',
    body: jpeg,
    captureTime: '1700000000000',
    forwardedBy,
  });

  it('without forwarding (forwardFrames false) answers 421 + Location of the owner', async () => {
    const e = await refusal(service().ingest(frame('cam1')));
    expect(e).toMatchObject({ code: 'EDGE_ERR_CAMERA_NOT_ASSIGNED', statusCode: 421 });
    expect(e.location).toBe('http://b.store:8080/v1/cameras/cam1/frames');
  });

  it('a camera placed nowhere gets 503 + Retry-After', async () => {
    const e = await refusal(service().ingest(frame('cam3')));
    expect(isEdgeError(e, 'EDGE_ERR_NO_CAMERA_OWNER')).toBe(true);
    expect(e).toMatchObject({ statusCode: 503, retryAfterSeconds: 4 });
  });

  it('forwards with content-type, capture time and its node id; falls back to 421 when the owner fails; never re-forwards', async () => {
    const seen: { url: string; headers: Record<string, string> }[] = [];
    let ownerStatus = 202;
    const metrics = new EdgeMetrics({ nodeId: 'c' });
    const forwarder = new FrameForwarder({
      nodeId: 'c',
      timeoutMs: 500,
      metrics,
      logger: pino({ level: 'silent' }),
      fetch: (async (url: string, init: RequestInit) => {
        seen.push({ url, headers: init.headers as Record<string, string> });
        return new Response(JSON.stringify({ frameId: 'f-1', cameraId: 'cam1' }), { status: ownerStatus });
      }) as typeof fetch,
    });
    const s = service(forwarder);
    expect(await s.ingest(frame('cam1'))).toEqual({ frameId: 'f-1', cameraId: 'cam1' });
    expect(seen[0]).toEqual({
      url: 'http://b.store:8080/v1/cameras/cam1/frames',
      headers: {
        'content-type': 'image/jpeg',
        'x-capture-time': '1700000000000',
        'x-storevision-forwarded-by': 'c',
      },
    });
    expect((await metrics.framesForwarded.get()).values).toMatchObject([
      { labels: { camera: 'cam1' }, value: 1 },
    ]);
    ownerStatus = 503;
    const e = await refusal(s.ingest(frame('cam1')));
    expect(e).toMatchObject({ code: 'EDGE_ERR_CAMERA_NOT_ASSIGNED', statusCode: 421 });
    expect(e.location).toBe('http://b.store:8080/v1/cameras/cam1/frames');
    const calls = seen.length;
    const again = await refusal(s.ingest(frame('cam1', 'd')));
    expect(again.statusCode).toBe(421);
    expect(seen.length).toBe(calls); // a forwarded frame is not forwarded again
  });
});

describe('forwarding and local failover config', () => {
  it('forwards by default; EDGE_FORWARD_FRAMES=false turns it off; a bad value is a clear error', async () => {
    const { loadConfig } = await import('../config.ts');
    expect(loadConfig({}).forwardFrames).toBe(true);
    expect(loadConfig({ EDGE_FORWARD_FRAMES: 'false' }).forwardFrames).toBe(false);
    expect(loadConfig({}, { forwardFrames: false }).forwardFrames).toBe(false);
    expect(loadConfig({ EDGE_LOCAL_FAILOVER_MS: '1500' }).localFailoverMs).toBe(1500);
    expect(() => loadConfig({ EDGE_FORWARD_FRAMES: 'maybe' })).toThrow(/forwardFrames/);
  });
});
