import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { manifestFromUltralytics } from '@storevision/detector';
import { SequenceRenderer } from '@storevision/scenes';
import pino from 'pino';
import { type EdgeConfigInput, loadConfig } from '../config.ts';
import { createEdgeNode, type EdgeNode, type EdgeNodeOptions } from '../node.ts';

/** Repository paths the tests use. */
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
export const BUNDLED_MODELS_DIR = path.join(repoRoot, 'models');
/** Real Ultralytics YOLOv8n and photos beside the checkout (not redistributable, so not in the repo). */
export const YOLOV8N_FIXTURES = path.resolve(repoRoot, '../shared/fixtures/real-yolov8n');
export const yolov8nPresent = existsSync(path.join(YOLOV8N_FIXTURES, 'yolov8n_int8.onnx'));

/**
 * A models folder for tests: the bundled `person-detector` (a link to the repo's package) and,
 * when the fixtures are present, `yolov8n` built from the real export's own metadata.
 */
export async function testModelsDir(): Promise<{ dir: string; dispose(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sv-models-'));
  await symlink(path.join(BUNDLED_MODELS_DIR, 'person-detector'), path.join(dir, 'person-detector'));
  if (yolov8nPresent) {
    const onnx = path.join(YOLOV8N_FIXTURES, 'yolov8n_int8.onnx');
    const manifest = await manifestFromUltralytics(onnx);
    await mkdir(path.join(dir, 'yolov8n'));
    await writeFile(
      path.join(dir, 'yolov8n', 'manifest.json'),
      JSON.stringify({ ...manifest, name: 'yolov8n' }),
    );
    await symlink(onnx, path.join(dir, 'yolov8n', manifest.variants[0]!.file));
  }
  return { dir, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * An edge node against `redisUrl`, with a random Redis prefix (so BullMQ queues and keys never
 * meet another test's), one inference thread with one onnxruntime thread (tests share 2 cores),
 * silent logs unless `EDGE_TEST_LOG` is set. Resolves once models are warm (unless `waitReady: false`).
 */
export async function startTestEdge(
  redisUrl: string,
  overrides: Partial<EdgeConfigInput> = {},
  opts: EdgeNodeOptions & { waitReady?: boolean } = {},
): Promise<EdgeNode> {
  const config = loadConfig(
    {},
    {
      redisUrl,
      redisPrefix: `t${randomBytes(6).toString('hex')}`,
      nodeId: 'test-node',
      modelsDir: BUNDLED_MODELS_DIR,
      cores: 2,
      inferenceThreads: 1,
      intraOpThreads: 1,
      logLevel: 'silent',
      ...overrides,
    },
  );
  const logger = pino({ level: process.env.EDGE_TEST_LOG ?? config.logLevel });
  const { waitReady = true, ...nodeOptions } = opts;
  const node = await createEdgeNode(config, { logger, ...nodeOptions });
  if (!waitReady) return node;
  try {
    await node.ready;
  } catch (err) {
    await node.close();
    throw err;
  }
  return node;
}

/** Rendered store frames (JPEG) with their ground truth, from the scene renderer. */
export async function renderFrames(
  count: number,
  opts: {
    scene?: 'entrance' | 'aisle' | 'checkout';
    seed?: number;
    width?: number;
    height?: number;
    step?: number;
  } = {},
) {
  const step = opts.step ?? 5;
  const r = new SequenceRenderer({
    scene: opts.scene ?? 'checkout',
    seed: opts.seed ?? 11,
    frames: 21 + count * step,
    fps: 5,
    width: opts.width ?? 640,
    height: opts.height ?? 480,
  });
  const frames = [];
  for (let i = 0; i < count; i++) frames.push(await r.frame(20 + i * step));
  return frames;
}

/** Polls `fn` until it returns a defined value or the time is up. */
export async function waitFor<T>(
  fn: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
