/**
 * `storevision bench models`: model delivery against its bare limits, measured in one run.
 *
 * 1. Publish: a ~100 MB model (the bundled detector with an unused 96 MB initializer appended — a
 *    valid ONNX onnxruntime loads) streamed to a `storevision hub` child process, against the
 *    disk's own write speed (100 MB written and fsynced by this process) and with the hub's RSS
 *    sampled: streaming rate, time to 201 (validation included) and memory growth.
 * 2. Fan-out: 200 simulated edges (HTTP clients doing what the edge's model agent does: register
 *    with a health report, long-poll their desired state, verify the ed25519 signature, download
 *    the blob and check its sha256) receive a new version through a one-wave rollout; compared with
 *    the same 200 downloads started at once with nothing to wait for (the transfer itself).
 * 3. Resume: the edge's own `downloadBlob` cut at 50 % and resumed; bytes the resume transferred
 *    against the rest of the file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { verifyModelSignature } from '@storevision/contracts';
import { downloadBlob } from '@storevision/inference-edge';
import { HubClient } from '../hub-client.ts';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));
const BUNDLED = path.join(REPO, 'models', 'person-detector');

export interface ModelsBenchOptions {
  /** Size of the big model to publish. @defaultValue 100 MB */
  publishMb: number;
  edges: number;
  onProgress?: (msg: string) => void;
}

export interface ModelsBenchResult {
  kind: 'models-bench';
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string };
  publish: {
    sizeMb: number;
    diskWriteMBps: number;
    streamMBps: number;
    ratio: number;
    totalSeconds: number;
    hubRssBeforeMb: number;
    hubRssPeakMb: number;
  };
  fanout: {
    edges: number;
    sizeMb: number;
    transferSeconds: number;
    rolloutSeconds: number;
    overheadSeconds: number;
    verified: number;
  };
  resume: { sizeBytes: number; cutAt: number; resumedTransferred: number; rest: number; exact: boolean };
  targets: { publish: boolean; fanout: boolean; resume: boolean };
}

/** The ONNX with an extra, unused float initializer of `padBytes`: protobuf merges a repeated `graph` field. */
export function padOnnx(onnx: Buffer, padBytes: number): Buffer {
  const varint = (n: number) => {
    const out: number[] = [];
    let v = n;
    while (v > 127) {
      out.push((v & 127) | 128);
      v = Math.floor(v / 128);
    }
    out.push(v);
    return Buffer.from(out);
  };
  const ld = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), varint(body.length), body]);
  const floats = Math.floor(padBytes / 4);
  // TensorProto: dims (1), data_type (2) = FLOAT, name (8), raw_data (9).
  const tensor = Buffer.concat([
    Buffer.from([0x08]),
    varint(floats),
    Buffer.from([0x10, 0x01]),
    ld(0x42, Buffer.from(`storevision_bench_pad_${padBytes}`)),
    ld(0x4a, randomBytes(floats * 4)),
  ]);
  // GraphProto.initializer (5) inside ModelProto.graph (7): merged into the model's graph.
  return Buffer.concat([onnx, ld(0x3a, ld(0x2a, tensor))]);
}

async function diskWriteMBps(dir: string, bytes: number): Promise<number> {
  const file = path.join(dir, 'disk-speed.bin');
  const chunk = randomBytes(1 << 20);
  const fh = await open(file, 'w');
  const t0 = performance.now();
  for (let done = 0; done < bytes; done += chunk.length) await fh.write(chunk);
  await fh.sync();
  await fh.close();
  const s = (performance.now() - t0) / 1000;
  await rm(file, { force: true });
  return bytes / 1e6 / s;
}

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

async function startHubProcess(
  dataDir: string,
  token: string,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      MAIN,
      'hub',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--data-dir',
      dataDir,
      '--admin-token',
      token,
      '--log-level',
      'warn',
    ],
    { env: { ...process.env, STOREVISION_TSX_LOADED: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(buf);
      if (m) resolve(m[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`hub exited (${code}) while starting: ${buf.slice(-500)}`)),
    );
  });
  return { url, child };
}

export async function runModelsBench(o: ModelsBenchOptions): Promise<ModelsBenchResult> {
  const say = o.onProgress ?? (() => {});
  const work = await mkdtemp(path.join(os.tmpdir(), 'sv-models-bench-'));
  const token = `bench-admin-${randomBytes(12).toString('hex')}`;
  let hub: { url: string; child: ChildProcess } | undefined;
  try {
    const manifest = JSON.parse(await readFile(path.join(BUNDLED, 'manifest.json'), 'utf8'));
    const onnx = await readFile(path.join(BUNDLED, manifest.variants[0].file));
    hub = await startHubProcess(path.join(work, 'hub'), token);
    const hubUrl = hub.url;
    const client = new HubClient(hubUrl, token);
    const auth = { authorization: `Bearer ${token}` };
    const json = async (method: string, p: string, body?: unknown, headers = auth) => {
      const res = await fetch(`${hubUrl}${p}`, {
        method,
        headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    };

    // 1. Publish ------------------------------------------------------------------------------
    const bigBytes = o.publishMb * 1e6;
    say(`disk write speed (${o.publishMb} MB, fsync)`);
    const disk = await diskWriteMBps(work, bigBytes);
    const bigFile = path.join(work, 'big.onnx');
    await writeFile(bigFile, padOnnx(onnx, bigBytes - onnx.length));
    const bigSize = (await stat(bigFile)).size;
    const publishManifest = (version: string) =>
      JSON.stringify({
        ...manifest,
        version,
        variants: [{ ...manifest.variants[0], sha256: undefined, sizeBytes: undefined }],
      });
    say(`publishing ${(bigSize / 1e6).toFixed(0)} MB to the hub (child process)`);
    const rssBefore = rssMb(hub.child.pid!);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      try {
        rssPeak = Math.max(rssPeak, rssMb(hub!.child.pid!));
      } catch {
        // the hub is gone: the publish below says why
      }
    }, 50);
    let first = 0;
    let last = 0;
    const t0 = performance.now();
    const pub = await client.publish({
      name: manifest.name,
      file: bigFile,
      manifestJson: publishManifest('0.0.1-big'),
      onProgress: (sent, total) => {
        const now = performance.now();
        if (!first) first = now;
        if (sent >= total) last ||= now;
      },
    });
    const total = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    if (pub.status >= 300)
      throw new Error(`publishing the big model: ${pub.status} ${JSON.stringify(pub.body)}`);
    const streamMBps = bigSize / 1e6 / ((last - first) / 1000);

    // 2. Fan-out to simulated edges -----------------------------------------------------------
    say(`registering ${o.edges} simulated edges`);
    const key = ((await (await fetch(`${hubUrl}/v1/signing-key`)).json()) as { publicKeyPem: string })
      .publicKeyPem;
    await client.publish({
      name: manifest.name,
      file: path.join(BUNDLED, manifest.variants[0].file),
      manifestJson: JSON.stringify(manifest),
    });
    const newFile = path.join(work, 'new.onnx');
    await writeFile(newFile, padOnnx(onnx, 1_000_000));
    const newVersion = '1.0.1';
    const published = await client.publish({
      name: manifest.name,
      file: newFile,
      manifestJson: publishManifest(newVersion),
    });
    if (published.status >= 300) throw new Error(`publish ${newVersion}: ${JSON.stringify(published.body)}`);
    const { digest, sizeBytes } = (await json(
      'GET',
      `/v1/models/${manifest.name}/versions/${newVersion}`,
    )) as {
      digest: string;
      sizeBytes?: number;
    };
    const newSize = sizeBytes ?? (await stat(newFile)).size;
    const stores = Array.from(
      { length: Math.ceil(o.edges / 4) },
      (_, i) => `bench-store-${String(i).padStart(3, '0')}`,
    );
    const edges = await Promise.all(
      Array.from({ length: o.edges }, async (_, i) => {
        const nodeId = `bench-node-${String(i).padStart(3, '0')}`;
        const t = (await json('POST', '/v1/tokens', { role: 'node', label: nodeId })) as { token: string };
        const headers = { authorization: `Bearer ${t.token}` };
        await json(
          'PUT',
          `/v1/nodes/${nodeId}/health`,
          {
            storeId: stores[i % stores.length],
            models: [
              {
                name: manifest.name,
                version: manifest.version,
                state: 'ready',
                runs: 0,
                errors: 0,
                errorRate: 0,
                p50Ms: 0,
                p99Ms: 0,
              },
            ],
          },
          headers,
        );
        const first = await fetch(`${hubUrl}/v1/nodes/${nodeId}/models`, { headers });
        return { nodeId, headers, etag: first.headers.get('etag') ?? '' };
      }),
    );

    // The transfer itself: the same downloads, all at once, nothing to wait for.
    say(`baseline: ${o.edges} downloads of ${(newSize / 1e6).toFixed(1)} MB at once`);
    const tb = performance.now();
    await Promise.all(edges.map((e) => fetchAndHash(`${hubUrl}/v1/blobs/${digest}`, e.headers)));
    const transferSeconds = (performance.now() - tb) / 1000;

    say(`rollout of ${newVersion} to ${o.edges} edges (one wave)`);
    const received = edges.map(async (e) => {
      for (;;) {
        const res = await fetch(`${hubUrl}/v1/nodes/${e.nodeId}/models?wait=30`, {
          headers: { ...e.headers, 'if-none-match': e.etag },
        });
        if (res.status === 304) continue;
        const state = (await res.json()) as {
          etag: string;
          models: Array<Parameters<typeof verifyModelSignature>[1] & { version: string; digest: string }>;
        };
        e.etag = res.headers.get('etag') ?? state.etag;
        const m = state.models.find((x) => x.version === newVersion);
        if (!m) continue;
        if (!verifyModelSignature(key, m)) throw new Error(`${e.nodeId}: signature does not verify`);
        const got = await fetchAndHash(`${hubUrl}/v1/blobs/${m.digest}`, e.headers);
        if (`sha256:${got}` !== m.digest) throw new Error(`${e.nodeId}: digest mismatch`);
        return performance.now();
      }
    });
    const tr = performance.now();
    await json('POST', '/v1/rollouts', {
      model: manifest.name,
      version: newVersion,
      target: { stores },
      waves: [{ percent: 100, holdSeconds: 0 }],
    });
    const done = await Promise.all(received);
    const rolloutSeconds = (Math.max(...done) - tr) / 1000;

    // 3. Resume after a cut at 50 % -------------------------------------------------------------
    say('resumed download after a cut at 50 %');
    const partial = path.join(work, 'resume.partial');
    const controller = new AbortController();
    let seen = 0;
    const half = Math.floor(bigSize / 2);
    const bigDigest = (pub.body as { digest: string }).digest;
    await downloadBlob({
      url: `${hubUrl}/v1/blobs/${bigDigest}`,
      headers: edges[0]!.headers,
      digest: bigDigest,
      sizeBytes: bigSize,
      partialFile: partial,
      signal: controller.signal,
      onBytes: (n) => {
        seen += n;
        if (seen >= half) controller.abort();
      },
    }).catch(() => {});
    const cutAt = (await stat(partial)).size;
    const resumed = await downloadBlob({
      url: `${hubUrl}/v1/blobs/${bigDigest}`,
      headers: edges[0]!.headers,
      digest: bigDigest,
      sizeBytes: bigSize,
      partialFile: partial,
    });

    const ratio = streamMBps / disk;
    const overhead = rolloutSeconds - transferSeconds;
    return {
      kind: 'models-bench',
      date: new Date().toISOString(),
      machine: {
        cpus: os.availableParallelism(),
        cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
        memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
        node: process.version,
      },
      publish: {
        sizeMb: bigSize / 1e6,
        diskWriteMBps: disk,
        streamMBps,
        ratio,
        totalSeconds: total,
        hubRssBeforeMb: rssBefore,
        hubRssPeakMb: rssPeak,
      },
      fanout: {
        edges: o.edges,
        sizeMb: newSize / 1e6,
        transferSeconds,
        rolloutSeconds,
        overheadSeconds: overhead,
        verified: done.length,
      },
      resume: {
        sizeBytes: bigSize,
        cutAt,
        resumedTransferred: resumed.transferred,
        rest: bigSize - cutAt,
        exact: resumed.resumedFrom === cutAt && resumed.transferred === bigSize - cutAt,
      },
      targets: {
        publish: ratio >= 0.8,
        fanout: overhead <= 2,
        resume: resumed.resumedFrom === cutAt && resumed.transferred === bigSize - cutAt,
      },
    };
  } finally {
    hub?.child.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  }
}

async function fetchAndHash(url: string, headers: Record<string, string>): Promise<string> {
  const res = await fetch(url, { headers });
  if (!res.ok || !res.body) throw new Error(`${url}: ${res.status}`);
  const h = createHash('sha256');
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) h.update(chunk);
  return h.digest('hex');
}

export function formatModelsBench(r: ModelsBenchResult): string {
  const p = r.publish;
  const f = r.fanout;
  const mark = (ok: boolean) => (ok ? '✔' : '✘');
  return [
    `storevision bench models — ${r.date}`,
    `machine: ${r.machine.cpus} vCPU ${r.machine.cpuModel}, ${r.machine.memoryGb} GB, node ${r.machine.node}`,
    '',
    `publish ${p.sizeMb.toFixed(0)} MB: streamed at ${p.streamMBps.toFixed(0)} MB/s vs disk write ${p.diskWriteMBps.toFixed(0)} MB/s (fsync) = ${p.ratio.toFixed(2)} ${mark(r.targets.publish)} (target ≥ 0.80); 201 after ${p.totalSeconds.toFixed(1)} s (validation included); hub RSS ${p.hubRssBeforeMb.toFixed(0)} → peak ${p.hubRssPeakMb.toFixed(0)} MB`,
    `fan-out to ${f.edges} edges (${f.sizeMb.toFixed(1)} MB, signature + sha256 checked by each): ${f.rolloutSeconds.toFixed(2)} s from the rollout to the last verified copy vs ${f.transferSeconds.toFixed(2)} s for the same downloads alone: +${f.overheadSeconds.toFixed(2)} s ${mark(r.targets.fanout)} (target ≤ +2 s)`,
    `resume after a cut at ${(r.resume.cutAt / 1e6).toFixed(1)} of ${(r.resume.sizeBytes / 1e6).toFixed(1)} MB: the resume transferred ${r.resume.resumedTransferred} bytes of the ${r.resume.rest} left ${mark(r.targets.resume)}`,
  ].join('\n');
}
