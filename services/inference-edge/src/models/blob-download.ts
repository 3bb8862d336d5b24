import { createWriteStream } from 'node:fs';
import { rm, stat, truncate } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { EdgeError } from '../errors.ts';
import { sha256File } from './model-cache.ts';

export interface BlobDownloadOptions {
  /** `<hub>/v1/blobs/<digest>`. */
  url: string;
  headers: Record<string, string>;
  /** `sha256:<hex>`: the signed digest the finished file must have. */
  digest: string;
  sizeBytes: number;
  /** Where the bytes accumulate; what is there already is kept and only the rest is asked for. */
  partialFile: string;
  signal?: AbortSignal;
  /** Called with the bytes of every chunk received (progress, tests that cut a transfer). */
  onBytes?: (n: number) => void;
  fetch?: typeof fetch;
}

export interface BlobDownloadResult {
  /** Bytes already on disk when this download started. */
  resumedFrom: number;
  /** Bytes received over the network by this call. */
  transferred: number;
}

/**
 * Downloads a content-addressed blob with resume: a partial file from an earlier, cut transfer
 * is continued with `Range: bytes=<have>-` (and `If-Range` on the digest ETag, so a hub that
 * answers 200 instead restarts the file cleanly). The finished file's sha256 must be the signed
 * digest, or the file is deleted and `EDGE_ERR_MODEL_DIGEST_MISMATCH` thrown: tampered or
 * corrupted bytes never reach the cache. On a cut, what arrived stays for the next try.
 */
export async function downloadBlob(o: BlobDownloadOptions): Promise<BlobDownloadResult> {
  let have = await stat(o.partialFile).then(
    (s) => s.size,
    () => 0,
  );
  if (have > o.sizeBytes) {
    await truncate(o.partialFile, 0);
    have = 0;
  }
  const resumedFrom = have;
  let transferred = 0;
  if (have < o.sizeBytes) {
    const doFetch = o.fetch ?? fetch;
    const headers: Record<string, string> = { ...o.headers };
    if (have > 0) {
      headers.range = `bytes=${have}-`;
      headers['if-range'] = `"${o.digest}"`;
    }
    let res: Response;
    try {
      res = await doFetch(o.url, { headers, ...(o.signal ? { signal: o.signal } : {}) });
    } catch (err) {
      throw new EdgeError('EDGE_ERR_MODEL_DOWNLOAD_FAILED', `${o.url}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (res.status === 416) {
      // The partial file does not fit the blob any more: start again on the next try.
      await rm(o.partialFile, { force: true });
      throw new EdgeError('EDGE_ERR_MODEL_DOWNLOAD_FAILED', `${o.url}: 416, restarting`);
    }
    if (res.status !== 200 && res.status !== 206) {
      const text = await res.text().catch(() => '');
      throw new EdgeError(
        'EDGE_ERR_MODEL_DOWNLOAD_FAILED',
        `${o.url}: HTTP ${res.status} ${text.slice(0, 200)}`,
      );
    }
    if (res.status === 206) {
      const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== have) {
        await res.body?.cancel();
        await rm(o.partialFile, { force: true });
        throw new EdgeError('EDGE_ERR_MODEL_DOWNLOAD_FAILED', `${o.url}: unexpected content-range`);
      }
    }
    const append = res.status === 206;
    if (!res.body) throw new EdgeError('EDGE_ERR_MODEL_DOWNLOAD_FAILED', `${o.url}: no body`);
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        transferred += chunk.length;
        o.onBytes?.(chunk.length);
        done(null, chunk);
      },
    });
    try {
      await pipeline(
        Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
        meter,
        createWriteStream(o.partialFile, { flags: append ? 'a' : 'w' }),
        ...(o.signal ? [{ signal: o.signal }] : []),
      );
    } catch (err) {
      throw new EdgeError(
        'EDGE_ERR_MODEL_DOWNLOAD_FAILED',
        `${o.url}: cut after ${transferred} bytes (${(err as Error).message}); it resumes on the next try`,
        { cause: err },
      );
    }
  }
  const size = (await stat(o.partialFile)).size;
  const digest = `sha256:${await sha256File(o.partialFile)}`;
  if (size !== o.sizeBytes || digest !== o.digest) {
    await rm(o.partialFile, { force: true });
    throw new EdgeError(
      'EDGE_ERR_MODEL_DIGEST_MISMATCH',
      `got ${size} bytes with ${digest}, signed ${o.sizeBytes} bytes with ${o.digest}`,
    );
  }
  return { resumedFrom, transferred };
}
