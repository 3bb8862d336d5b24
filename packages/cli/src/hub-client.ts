/** A small client of the model hub's HTTP API for the `storevision models …` commands. */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ModelSummary, PublishResult, Rollout, SignedModelVersion } from '@storevision/contracts';
import { CliError } from './errors.ts';

/** An error answer of the hub, carrying its `HUB_ERR_*` code (printed by main.ts as `storevision: CODE: message`). */
export class HubRequestError extends Error {
  override readonly name = 'HubRequestError';
  constructor(
    readonly code: string,
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
  }
}

export const DEFAULT_HUB_URL = 'http://127.0.0.1:8090';
/** Where a local `storevision hub` with the default data dir keeps its generated admin token. */
export const LOCAL_ADMIN_TOKEN_FILE = path.join('.data', 'hub', 'admin-token');

/** `--token`, else `STOREVISION_HUB_TOKEN`, else the token file of a local hub; undefined when none. */
export async function resolveToken(option: string | undefined): Promise<string | undefined> {
  if (option) return option;
  if (process.env.STOREVISION_HUB_TOKEN) return process.env.STOREVISION_HUB_TOKEN;
  try {
    return (await readFile(LOCAL_ADMIN_TOKEN_FILE, 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

export class HubClient {
  private readonly base: URL;

  constructor(
    url: string,
    private readonly token: string | undefined,
  ) {
    try {
      this.base = new URL(url);
    } catch {
      throw new CliError('CLI_ERR_USAGE', `bad hub URL "${url}"`);
    }
  }

  listModels(): Promise<{ models: ModelSummary[] }> {
    return this.json('GET', '/v1/models');
  }

  listVersions(name: string): Promise<{
    name: string;
    versions: Array<{
      version: string;
      digest: string;
      sizeBytes: number;
      createdAt: string;
      aliases: string[];
    }>;
  }> {
    return this.json('GET', `/v1/models/${encodeURIComponent(name)}/versions`);
  }

  getVersion(name: string, ref: string): Promise<SignedModelVersion> {
    return this.json('GET', `/v1/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(ref)}`);
  }

  setAlias(
    name: string,
    alias: string,
    version: string,
  ): Promise<{ name: string; alias: string; version: string }> {
    return this.json('PUT', `/v1/models/${encodeURIComponent(name)}/aliases/${encodeURIComponent(alias)}`, {
      version,
    });
  }

  createRollout(body: unknown): Promise<Rollout> {
    return this.json('POST', '/v1/rollouts', body);
  }

  getRollout(id: string): Promise<Rollout> {
    return this.json('GET', `/v1/rollouts/${encodeURIComponent(id)}`);
  }

  rolloutAction(id: string, action: 'pause' | 'promote' | 'rollback'): Promise<Rollout> {
    return this.json('POST', `/v1/rollouts/${encodeURIComponent(id)}/${action}`);
  }

  /**
   * Streams a model file (and its manifest) as multipart/form-data with a known Content-Length,
   * reporting bytes sent; the file is never read whole into memory.
   */
  async publish(opts: {
    name: string;
    file: string;
    version?: string;
    manifestJson?: string;
    onProgress?: (sent: number, total: number) => void;
  }): Promise<{ status: number; body: PublishResult }> {
    const size = (await stat(opts.file)).size;
    const boundary = `----storevision${randomBytes(12).toString('hex')}`;
    const field = (name: string, value: string) =>
      Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
    const head = Buffer.concat([
      ...(opts.manifestJson !== undefined ? [field('manifest', opts.manifestJson)] : []),
      ...(opts.version !== undefined ? [field('version', opts.version)] : []),
      Buffer.from(
        `--${boundary}\r\ncontent-disposition: form-data; name="model"; filename="${path.basename(opts.file).replace(/"/g, '')}"\r\n` +
          'content-type: application/octet-stream\r\n\r\n',
      ),
    ]);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const req = this.request('POST', `/v1/models/${encodeURIComponent(opts.name)}/versions`, {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(head.length + size + tail.length),
    });
    let sent = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        sent += chunk.length;
        opts.onProgress?.(sent, size);
        done(null, chunk);
      },
    });
    req.write(head);
    const upload = pipeline(
      // 1 MiB reads: with the 64 KiB default, file reads and socket writes cost more than the upload.
      createReadStream(opts.file, { highWaterMark: 1 << 20 }),
      meter,
      async function* (source) {
        for await (const chunk of source) yield chunk;
        yield tail;
      },
      req,
    );
    // The hub may answer (e.g. 401, 413) before the upload ends; its answer matters, not the broken pipe.
    const res = await this.response(req);
    await upload.catch(() => {});
    return { status: res.status, body: res.body as PublishResult };
  }

  private async json<T>(method: string, route: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = this.request(method, route, payload ? { 'content-type': 'application/json' } : {});
    req.end(payload);
    return (await this.response(req)).body as T;
  }

  private request(method: string, route: string, headers: Record<string, string>): http.ClientRequest {
    const url = new URL(route, this.base);
    const lib = url.protocol === 'https:' ? https : http;
    return lib.request(url, {
      method,
      headers: { ...headers, ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
    });
  }

  private response(req: http.ClientRequest): Promise<{ status: number; body: unknown }> {
    return new Promise((resolve, reject) => {
      req.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ECONNRESET'].includes(err.code ?? '')
            ? new CliError(
                'CLI_ERR_HUB_UNREACHABLE',
                `cannot reach the hub at ${this.base.origin}: ${err.code}`,
              )
            : err,
        ),
      );
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', reject);
        res.once('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: keep the text for the error message
          }
          const status = res.statusCode ?? 0;
          if (status >= 400) {
            const e = body as { code?: string; message?: string } | undefined;
            reject(
              new HubRequestError(
                e?.code ?? `HUB_ERR_HTTP_${status}`,
                e?.message ?? (text.slice(0, 200) || `HTTP ${status}`),
                status,
              ),
            );
          } else resolve({ status, body });
        });
      });
    });
  }
}
