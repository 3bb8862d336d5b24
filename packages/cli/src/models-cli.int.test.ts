import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningHub } from '@storevision/model-hub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  PERSON_DETECTOR_MANIFEST as MANIFEST,
  PERSON_DETECTOR,
  REPO as repo,
  startCliTestHub,
} from './testing/cli-hub.ts';

const bin = join(repo, 'packages/cli/bin/storevision.js');
const YOLOV8N = join(repo, '../shared/fixtures/real-yolov8n/yolov8n_int8.onnx');
/** The real Ultralytics export beside the checkout; without it the bundled model (which carries Ultralytics metadata) is imported instead. */
const ULTRALYTICS_EXPORT = existsSync(YOLOV8N)
  ? YOLOV8N
  : join(repo, 'models/person-detector/person-detector.onnx');
const TOKEN = 'cli-test-admin-token-0123456789';
/** The bundled model's version and digest, as its manifest states them. */
const bundled = JSON.parse(readFileSync(MANIFEST, 'utf8')) as {
  version: string;
  variants: { sha256: string }[];
};
const V = bundled.version;
const VRE = V.replaceAll('.', '\\.');

let hub: RunningHub;
let work: string;
let disposeHub: (() => Promise<void>) | undefined;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'sv-models-cli-'));
  ({ hub, dispose: disposeHub } = await startCliTestHub(TOKEN));
});
afterAll(async () => {
  await disposeHub?.();
  await rm(work, { recursive: true, force: true });
});

describe('storevision models', () => {
  it('publishes over real HTTP (streamed multipart), lists and promotes', async () => {
    const common = ['--hub', hub.url, '--token', TOKEN];
    const pub = await cli(
      'models',
      'publish',
      PERSON_DETECTOR,
      '--name',
      'person-detector',
      '--manifest',
      MANIFEST,
      ...common,
    );
    expect(pub.stderr).toBe('');
    expect(pub.code).toBe(0);
    expect(pub.stdout).toMatch(
      new RegExp(`^published person-detector@${VRE} sha256:${bundled.variants[0]!.sha256}\\n$`),
    );

    const imported = await cli(
      'models',
      'publish',
      ULTRALYTICS_EXPORT,
      '--name',
      'yolov8n',
      '--version',
      '8.1.0',
      ...common,
    );
    expect(imported.code, imported.stderr).toBe(0);

    const again = await cli(
      'models',
      'publish',
      PERSON_DETECTOR,
      '--name',
      'person-detector',
      '--manifest',
      MANIFEST,
      ...common,
    );
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already published');

    const promote = await cli('models', 'promote', 'person-detector', V, '--alias', 'stable', ...common);
    expect(promote.code, promote.stderr).toBe(0);
    expect(promote.stdout.trim()).toBe(`person-detector@stable -> ${V}`);

    const list = await cli('models', 'list', ...common);
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+LATEST\s+VERSIONS\s+ALIASES$/);
    expect(lines[1]).toMatch(new RegExp(`^person-detector\\s+${VRE}\\s+1\\s+stable=${VRE}$`));
    expect(lines[2]).toMatch(/^yolov8n\s+8\.1\.0\s+1$/);

    const versions = await cli('models', 'list', 'person-detector', '--json', ...common);
    expect(JSON.parse(versions.stdout).versions[0]).toMatchObject({ version: V, aliases: ['stable'] });
  });

  it('prints the hub code in one line and exits 1 when the hub refuses a model', async () => {
    const csv = join(work, 'not-a-model.onnx');
    await writeFile(csv, 'store,camera\n17,entrance\n');
    const r = await cli(
      'models',
      'publish',
      csv,
      '--name',
      'junk',
      '--version',
      '1.0.0',
      '--hub',
      hub.url,
      '--token',
      TOKEN,
    );
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^storevision: HUB_ERR_NOT_ONNX: the uploaded file is not a readable ONNX model/,
    );
  });

  it('reports a wrong token and an unreachable hub by code', async () => {
    const bad = await cli('models', 'list', '--hub', hub.url, '--token', 'svh_nope');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('HUB_ERR_UNAUTHORIZED');
    const down = await cli('models', 'list', '--hub', 'http://127.0.0.1:1', '--token', TOKEN);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('CLI_ERR_HUB_UNREACHABLE');
  });

  it.each(
    [['hub'], ['models'], ['models', 'publish'], ['models', 'list'], ['models', 'promote']].map((c) => [
      c.join(' '),
      c,
    ]),
  )('storevision %s has --help', async (_name, cmd) => {
    const r = await cli(...(cmd as string[]), '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: storevision');
  });
});

describe('storevision hub', () => {
  it('starts on the given port with SQLite under --data-dir, serves /readyz, and stops on SIGTERM', async () => {
    const dataDir = join(work, 'hub-cmd');
    const child = spawn(
      process.execPath,
      [bin, 'hub', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--log-level', 'silent'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 30_000);
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        const m = /listening on (http:\/\/\S+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    expect(stderr).toContain(`admin token in ${join(dataDir, 'admin-token')}`);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ database: { kind: 'sqlite', ok: true } });
    const key = await fetch(`${url}/v1/signing-key`);
    expect(((await key.json()) as { publicKeyPem: string }).publicKeyPem).toContain('BEGIN PUBLIC KEY');
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
