import { desiredStateSchema } from '@storevision/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { personDetector, startTestHub, TEST_ADMIN_TOKEN, type TestHub } from './testing/hub-fixture.ts';

/**
 * The desired-state push channel (`GET /v1/nodes/{id}/models/events`, SSE) over a real socket:
 * the state on connect, again at once when a rollout changes it, heartbeats, `Last-Event-ID`
 * resumption without a repeat, and JSON refusals before any stream opens. SQLite only: the stream
 * is HTTP on top of the same `desiredState()` the long-poll uses, which `rollouts.int.test.ts`
 * runs on SQLite and PostgreSQL.
 */
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const admin = bearer(TEST_ADMIN_TOKEN);
let t: TestHub;
let base: string;
const tokens: Record<string, Record<string, string>> = {};

/** An open event stream: every frame (event or comment) as text, with the time it arrived. */
async function openStream(nodeId: string, headers: Record<string, string>) {
  const abort = new AbortController();
  const res = await fetch(`${base}/v1/nodes/${nodeId}/models/events`, { headers, signal: abort.signal });
  const frames: Array<{ at: number; text: string }> = [];
  const reading = (async () => {
    if (!res.body || !res.headers.get('content-type')?.startsWith('text/event-stream')) return;
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          frames.push({ at: performance.now(), text: buf.slice(0, i) });
          buf = buf.slice(i + 2);
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  const events = () =>
    frames
      .filter((f) => f.text.includes('event: desired-state'))
      .map((f) => {
        const id = /^id: (.*)$/m.exec(f.text)?.[1];
        const data = desiredStateSchema.parse(JSON.parse(/^data: (.*)$/m.exec(f.text)![1]!));
        return { at: f.at, id, data };
      });
  return {
    res,
    frames,
    events,
    async waitFor<T>(pred: () => T | undefined, ms = 5000): Promise<T> {
      const end = Date.now() + ms;
      for (;;) {
        const v = pred();
        if (v !== undefined) return v;
        if (Date.now() > end)
          throw new Error(`stream: condition not met in ${ms} ms: ${JSON.stringify(frames)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      abort.abort();
      await reading;
    },
  };
}

async function report(nodeId: string, storeId: string) {
  const res = await t.hub.app.inject({
    method: 'PUT',
    url: `/v1/nodes/${nodeId}/health`,
    headers: tokens[nodeId]!,
    payload: {
      storeId,
      models: [
        {
          name: 'person-detector',
          version: '1.0.0',
          state: 'ready',
          runs: 1,
          errors: 0,
          errorRate: 0,
          p50Ms: 5,
          p99Ms: 9,
        },
      ],
    },
  });
  expect(res.statusCode, res.body).toBe(204);
}

beforeAll(async () => {
  // The default 15 s heartbeat: a change seen within a second was pushed, not found at a heartbeat.
  t = await startTestHub(async (dir) => `sqlite:${dir}/hub.sqlite`, { rolloutTickMs: 50 });
  await t.hub.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(t.hub.app.server.address() as { port: number }).port}`;
  for (const version of ['1.0.0', '1.1.0']) {
    const { content, manifest } = await personDetector({ version });
    await t.publish(manifest, content);
  }
  for (const nodeId of ['n1', 'n2']) {
    tokens[nodeId] = bearer(await t.token('node'));
    await report(nodeId, nodeId === 'n1' ? 's1' : 's2');
  }
}, 60_000);
afterAll(() => t?.dispose());

describe('desired-state push channel (SSE)', () => {
  it('sends the state on connect, and the new state at once when a rollout changes it', async () => {
    const s = await openStream('n1', tokens.n1!);
    try {
      expect(s.res.status).toBe(200);
      expect(s.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const [first] = await s.waitFor(() => (s.events().length ? s.events() : undefined));
      expect(s.frames[0]!.text).toBe('retry: 3000');
      expect(first!.data.models).toEqual([]);
      expect(first!.id).toBe(first!.data.etag);
      // The same ETag as the long-poll's.
      const polled = await t.hub.app.inject({ url: '/v1/nodes/n1/models', headers: tokens.n1! });
      expect(polled.headers.etag).toBe(first!.id);
      await new Promise((r) => setTimeout(r, 300));
      expect(s.events()).toHaveLength(1);

      const created = performance.now();
      const r = await t.hub.app.inject({
        method: 'POST',
        url: '/v1/rollouts',
        headers: admin,
        payload: {
          model: 'person-detector',
          version: '1.1.0',
          target: { stores: ['s1'] },
          waves: [{ percent: 100, holdSeconds: 0 }],
        },
      });
      expect(r.statusCode, r.body).toBe(201);
      const pushed = await s.waitFor(() => s.events()[1]);
      expect(pushed.data.models.map((m) => m.version)).toEqual(['1.1.0']);
      expect(pushed.id).toBe(pushed.data.etag);
      expect(pushed.id).not.toBe(first!.id);
      // Pushed by the rollout itself (the next heartbeat is 15 s away).
      expect(pushed.at - created).toBeLessThan(2000);
      expect(s.frames.some((f) => f.text === ': keep-alive')).toBe(false);
    } finally {
      await s.close();
    }
  });

  it('resumes from Last-Event-ID: no repeat of the state the edge has, the current one when it is stale', async () => {
    const current = (await t.hub.app.inject({ url: '/v1/nodes/n1/models', headers: tokens.n1! })).headers
      .etag as string;
    const upToDate = await openStream('n1', { ...tokens.n1!, 'last-event-id': current });
    const stale = await openStream('n1', { ...tokens.n1!, 'last-event-id': '"not-the-current-etag"' });
    try {
      const got = await stale.waitFor(() => stale.events()[0]);
      expect(got.id).toBe(current);
      await new Promise((r) => setTimeout(r, 500));
      expect(upToDate.frames.map((f) => f.text)).toEqual(['retry: 3000']);
    } finally {
      await Promise.all([upToDate.close(), stale.close()]);
    }
  });

  it('refuses with a JSON error, before any stream opens: another node’s token, no token, a bad node id', async () => {
    for (const [nodeId, headers, status, code] of [
      ['n1', tokens.n2!, 403, 'HUB_ERR_NODE_TOKEN_MISMATCH'],
      ['n1', {}, 401, 'HUB_ERR_UNAUTHORIZED'],
      ['n%2F..', tokens.n1!, 400, 'HUB_ERR_BAD_NODE_ID'],
    ] as const) {
      const res = await fetch(`${base}/v1/nodes/${nodeId}/models/events`, { headers });
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toMatchObject({ code });
    }
  });

  it('sends a heartbeat comment every HUB_PUSH_HEARTBEAT_MS, and ends open streams when the hub closes', async () => {
    const other = await startTestHub(async (dir) => `sqlite:${dir}/hub.sqlite`, { pushHeartbeatMs: 200 });
    await other.hub.app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(other.hub.app.server.address() as { port: number }).port}`;
    const res = await fetch(`${url}/v1/nodes/n9/models/events`, { headers: admin });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 700));
    const t0 = performance.now();
    await other.dispose();
    // The body ends (the hub closed the stream) rather than holding the shutdown.
    const text = await res.text();
    expect(performance.now() - t0).toBeLessThan(5000);
    const frames = text.split('\n\n').filter(Boolean);
    expect(frames[0]).toBe('retry: 3000');
    expect(frames[1]).toContain('event: desired-state');
    // ~3 heartbeats in 700 ms, and no repeat of the unchanged state with them.
    expect(frames.slice(2).filter((f) => f === ': keep-alive').length).toBeGreaterThanOrEqual(2);
    expect(frames.filter((f) => f.includes('event: desired-state'))).toHaveLength(1);
  });
});
