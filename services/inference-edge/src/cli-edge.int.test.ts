import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS_DIR, renderFrames, waitFor } from './testing/edge-fixture.ts';

/**
 * `storevision edge` as a user runs it: the real command, its embedded redis-server (AOF on, in
 * the data folder), the bundled model; a frame pushed over real HTTP shows up in
 * `/detections/latest` and `/metrics`; SIGTERM stops it and its Redis cleanly.
 */

const bin = fileURLToPath(new URL('../../../packages/cli/bin/storevision.js', import.meta.url));
let work: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'sv-edge-cli-'));
});
afterAll(async () => {
  if (child?.pid) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await rm(work, { recursive: true, force: true });
});

describe('storevision edge', () => {
  it('lists every option in --help', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [bin, 'edge', '--help']);
    for (const opt of [
      '--port',
      '--redis-url',
      '--models-dir',
      '--node-id',
      '--data-dir',
      '--models',
      '--threads',
      '--intra-op-threads',
      '--cores',
      '--inference-timeout',
      '--frame-attempts',
      '--runner-idle',
      '--heap-growth',
      '--body-limit',
      '--max-pixels',
      '--outbox-max-len',
      '--log-level',
      '--redis-prefix',
      '--host',
    ])
      expect(stdout).toContain(opt);
    expect(stdout).toContain('EDGE_REDIS_URL');
  });

  it('refuses a bad option with CLI_ERR_USAGE and exit code 2', async () => {
    const r = await promisify(execFile)(process.execPath, [bin, 'edge', '--port', 'eighty']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect('code' in r && r.code).toBe(2);
    expect(r.stderr).toMatch(/^storevision: CLI_ERR_USAGE: invalid edge configuration: port/);
  });

  it('starts a node with an embedded Redis, processes a pushed frame, and stops on SIGTERM', async () => {
    const [frame] = await renderFrames(1);
    child = spawn(
      process.execPath,
      [
        bin,
        'edge',
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--data-dir',
        work,
        '--models-dir',
        BUNDLED_MODELS_DIR,
        '--node-id',
        'cli-node',
        '--threads',
        '1',
        '--intra-op-threads',
        '1',
        '--log-level',
        'warn',
      ],
      // Its own process group: the bin re-executes itself under tsx, and a terminal or container
      // stop signals the whole group, which is what the test does.
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const url = await waitFor(async () => /listening on (http:\/\/[\d.]+:\d+)/.exec(stderr)?.[1], 20_000);
    await waitFor(async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined), 30_000);

    const detect = await fetch(`${url}/v1/models/person-detector/detect`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: frame!.jpeg,
    });
    expect(detect.status).toBe(200);
    expect(((await detect.json()) as { model: string }).model).toBe('person-detector');

    const pushed = await fetch(`${url}/v1/cameras/door-1/frames`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg', 'x-capture-time': '1767603600000' },
      body: frame!.jpeg,
    });
    expect(pushed.status).toBe(202);
    const { frameId } = (await pushed.json()) as { frameId: string };
    const latest = await waitFor(async () => {
      const r = await fetch(`${url}/v1/cameras/door-1/detections/latest`);
      return r.status === 200 ? ((await r.json()) as { frameId: string; nodeId: string }) : undefined;
    });
    expect(latest).toMatchObject({ frameId, nodeId: 'cli-node' });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/edge_frames_processed_total\{[^}]*camera="door-1"[^}]*\} 1/);

    const redisPort = Number(/embedded Redis redis:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]);
    expect(redisPort).toBeGreaterThan(0);
    process.kill(-child.pid!, 'SIGTERM');
    // The node drains and stops, and its Redis goes with it.
    const httpPort = Number(new URL(url).port);
    await waitFor(
      async () => (!(await answers(httpPort)) && !(await answers(redisPort)) ? true : undefined),
      15_000,
    );
  });
});

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
