import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HubRole } from '@storevision/contracts';
import pino from 'pino';
import { type HubConfigInput, loadConfig } from '../config.ts';
import { createHub, type Hub } from '../hub.ts';
import type { FsBlobStore } from '../storage/blob-store.ts';
import { startTestPostgres, type TestPostgres } from './postgres.ts';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
/** The bundled detector's package. */
export const PERSON_DETECTOR_DIR = path.join(repoRoot, 'models', 'person-detector');
export const PERSON_DETECTOR_ONNX = path.join(PERSON_DETECTOR_DIR, 'person-detector.onnx');
/** Real Ultralytics YOLOv8n beside the checkout (not redistributable, so never copied into the repo). */
export const YOLOV8N_ONNX = path.resolve(repoRoot, '../shared/fixtures/real-yolov8n/yolov8n_int8.onnx');
export const yolov8nPresent = existsSync(YOLOV8N_ONNX);

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';

export type Backend = 'sqlite' | 'postgres';
export const BACKENDS: Backend[] = ['sqlite', 'postgres'];

/**
 * Databases for one test file: SQLite files need nothing, PostgreSQL gets one throwaway cluster
 * per file (started on first use) and a fresh database per hub.
 */
export function testDatabases() {
  let cluster: Promise<TestPostgres> | undefined;
  return {
    async url(backend: Backend, dataDir: string): Promise<string> {
      if (backend === 'sqlite') return `sqlite:${path.join(dataDir, 'hub.sqlite')}`;
      cluster ??= startTestPostgres();
      return (await cluster).createDatabase();
    },
    async stop(): Promise<void> {
      if (cluster) await (await cluster.catch(() => undefined))?.stop();
    },
  };
}

export interface TestHub {
  hub: Hub;
  dataDir: string;
  /** A new token of that role (issued through the API, as an admin would). */
  token(role: HubRole): Promise<string>;
  /**
   * Publishes a model version through the API (`POST /v1/models/{manifest.name}/versions`, admin
   * unless `headers` says otherwise); throws with the hub's answer unless it is 201.
   */
  publish(
    manifest: Record<string, unknown>,
    content: Buffer,
    o?: { headers?: Record<string, string>; filename?: string },
  ): Promise<{ name: string; version: string; digest: string }>;
  /** Blobs, staged files and version rows: what a failed publish must leave unchanged. */
  storage(): Promise<{ blobs: string[]; staged: string[]; versions: number; models: number }>;
  dispose(): Promise<void>;
}

/** A hub on a temp data dir, silent unless `HUB_TEST_LOG` is set. */
export async function startTestHub(
  databaseUrl: (dataDir: string) => Promise<string>,
  overrides: Partial<HubConfigInput> = {},
): Promise<TestHub> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'sv-hub-'));
  const config = loadConfig(
    {},
    {
      dataDir,
      databaseUrl: await databaseUrl(dataDir),
      adminToken: TEST_ADMIN_TOKEN,
      logLevel: 'silent',
      ...overrides,
    },
  );
  const hub = await createHub(config, { logger: pino({ level: process.env.HUB_TEST_LOG ?? 'silent' }) });
  return {
    hub,
    dataDir,
    async token(role) {
      const res = await hub.app.inject({
        method: 'POST',
        url: '/v1/tokens',
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
        payload: { role, label: `test-${role}` },
      });
      if (res.statusCode !== 201) throw new Error(`token: ${res.statusCode} ${res.body}`);
      return res.json().token as string;
    },
    async publish(manifest, content, o = {}) {
      const body = multipart([
        { name: 'manifest', value: JSON.stringify(manifest) },
        { name: 'model', filename: o.filename ?? 'person-detector.onnx', content },
      ]);
      const res = await hub.app.inject({
        method: 'POST',
        url: `/v1/models/${String(manifest.name)}/versions`,
        headers: { ...(o.headers ?? { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }), ...body.headers },
        payload: body.payload,
      });
      if (res.statusCode !== 201)
        throw new Error(
          `publish ${String(manifest.name)}@${String(manifest.version)}: ${res.statusCode} ${res.body}`,
        );
      return res.json();
    },
    async storage() {
      const db = hub.database.db;
      const versions = await db
        .selectFrom('model_versions')
        .select(db.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      const models = await db.selectFrom('models').select(db.fn.countAll().as('n')).executeTakeFirstOrThrow();
      return {
        blobs: await hub.blobs.list(),
        staged: await (hub.blobs as FsBlobStore).staged(),
        versions: Number(versions.n),
        models: Number(models.n),
      };
    },
    async dispose() {
      await hub.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export type FormPart =
  | { name: string; value: string }
  | { name: string; filename: string; content: Buffer; contentType?: string };

/** A multipart/form-data body for `app.inject` (real clients stream; the CLI test covers that). */
export function multipart(parts: FormPart[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----sv${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const head =
      'filename' in p
        ? `--${boundary}\r\ncontent-disposition: form-data; name="${p.name}"; filename="${p.filename}"\r\n` +
          `content-type: ${p.contentType ?? 'application/octet-stream'}\r\n\r\n`
        : `--${boundary}\r\ncontent-disposition: form-data; name="${p.name}"\r\n\r\n`;
    chunks.push(Buffer.from(head), 'filename' in p ? p.content : Buffer.from(p.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    payload: Buffer.concat(chunks),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

/**
 * The bundled detector's file and manifest, renamed/re-versioned as a test needs; version 1.0.0
 * unless the patch says otherwise (the hub's tests do not follow the bundled model's own version).
 */
export async function personDetector(patch: Record<string, unknown> = {}) {
  const content = await readFile(PERSON_DETECTOR_ONNX);
  const manifest = {
    ...JSON.parse(await readFile(path.join(PERSON_DETECTOR_DIR, 'manifest.json'), 'utf8')),
    version: '1.0.0',
    ...patch,
  };
  return { content, manifest };
}
