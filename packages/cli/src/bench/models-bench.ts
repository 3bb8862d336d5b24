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
import { downloadBlob, readEventStream } from '@storevision/inference-edge';
import { HubClient } from '../hub-client.ts';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));
const BUNDLED = path.join(REPO, 'models', 'person-detector');

export interface ModelsBenchOptions {
  /** Size of the big model to publish. @defaultValue 100 MB */
  publishMb: number;
  /** Publishes of the big model, each after its own disk measurement; medians are reported. @defaultValue 3 */
  publishRounds?: number;
  edges: number;
  /** How the simulated edges learn of the new version: the push channel (SSE) or the long-poll. @defaultValue push */
  fanoutChannel?: 'push' | 'poll';
  onProgress?: (msg: string) => void;
}

/** One publish of the big model, with the disk measured just before it. */
export interface PublishRound {
  diskWriteMBps: number;
  /** Bytes / time from the part's first byte to the file hashed, written and fsynced (`hub_model_upload_seconds`). */
  hubUploadMBps: number;
  /** Bytes / time between the client's first and last byte sent. */
  streamMBps: number;
  /** First byte to 201 (validation included). */
  totalSeconds: number;
  hubRssBeforeMb: number;
  hubRssPeakMb: number;
  /** Half a second after the 201. */
  hubRssAfterMb: number;
  /**
   * The upload's bare limits on this machine: the same client upload to a process that only reads
   * the body (the loopback transport), and one that also hashes it with sha256 (what every publish
   * must do before it can name the blob), and one that also writes it to this disk and fsyncs it:
   * the whole irreducible work of a publish, its bare limit. Each from the sink's own clock (first
   * body byte to done), like `hubUploadMBps`.
   */
  bareReadMBps: number;
  bareHashMBps: number;
  bareStoreMBps: number;
}

export interface ModelsBenchResult {
  kind: 'models-bench';
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string };
  /** 1-minute load average when the bench started and when it ended (other jobs on the machine show here). */
  loadAverage: { start: number; end: number };
  publish: {
    sizeMb: number;
    rounds: PublishRound[];
    /** Medians over the rounds. */
    diskWriteMBps: number;
    hubUploadMBps: number;
    streamMBps: number;
    /** Median over the rounds of hubUploadMBps ÷ diskWriteMBps (both include the fsync): the target's ratio. */
    ratio: number;
    /** Median of streamMBps ÷ diskWriteMBps (client side, no fsync), as earlier versions of this bench reported. */
    clientRatio: number;
    /** Medians of the bare limits (see `PublishRound`). */
    bareReadMBps: number;
    bareHashMBps: number;
    bareStoreMBps: number;
    /** Median over the rounds of hubUploadMBps ÷ bareStoreMBps: the hub against the bare limit of the same work. */
    bareRatio: number;
    totalSeconds: number;
    hubRssBeforeMb: number;
    hubRssPeakMb: number;
    hubRssAfterMb: number;
  };
  fanout: {
    channel: 'push' | 'poll';
    edges: number;
    sizeMb: number;
    transferSeconds: number;
    rolloutSeconds: number;
    overheadSeconds: number;
    verified: number;
  };
  resume: { sizeBytes: number; cutAt: number; resumedTransferred: number; rest: number; exact: boolean };
  /** `publish`: the target (≥ 0.8 of the disk); `publishVsBare`: ≥ 0.8 of the bare publish. */
  targets: { publish: boolean; publishVsBare: boolean; fanout: boolean; resume: boolean };
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

/** Samples `pid`'s RSS every 20 ms until `stop()`; `peak` is the highest seen (MB). */
function rssPeakSampler(pid: number): { readonly peak: number; stop(): void } {
  let peak = rssMb(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      // the process is gone: its caller's request says why
    }
  }, 20);
  return {
    get peak() {
      return peak;
    },
    stop: () => clearInterval(timer),
  };
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

/**
 * A bare upload sink in its own process (as the hub is): answers each POST with 201 and
 * `{seconds}` (its first body byte to done, as the hub's `hub_model_upload_seconds`) once it has
 * read the whole body. `/v1/models/read/…` only reads it (the loopback transport); `/hash/…` also
 * hashes it with sha256 (what every publish must do before it can name the blob); `/store/…` does
 * all of a publish's irreducible work — sha256 and a durable copy on this disk (1 MiB `writev`
 * batches at explicit offsets, up to 4 in flight, then `fdatasync`: the fastest way measured here)
 * — with no multipart parsing, validation or database: the bare limit of a publish.
 */
async function startBareSink(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const script = `
    const http = require('node:http');
    const fs = require('node:fs/promises');
    const path = require('node:path');
    const { createHash } = require('node:crypto');
    const dir = ${JSON.stringify(dir)};
    let n = 0;
    const server = http.createServer(async (req, res) => {
      const store = req.url.includes('/store/');
      const h = req.url.includes('/hash/') || store ? createHash('sha256') : undefined;
      const file = path.join(dir, 'bare-' + n++);
      const fh = store ? await fs.open(file, 'w') : undefined;
      let t0 = 0, at = 0, batch = [], bytes = 0;
      const inflight = [];
      const flush = async () => {
        inflight.push(fh.writev(batch, at));
        at += bytes; batch = []; bytes = 0;
        while (inflight.length > 4) await inflight.shift();
      };
      for await (const c of req) {
        if (!t0) t0 = performance.now();
        if (h) h.update(c);
        if (fh) { batch.push(c); bytes += c.length; if (bytes >= 1048576) await flush(); }
      }
      if (fh) { if (bytes) await flush(); await Promise.all(inflight); await fh.datasync(); await fh.close(); await fs.rm(file); }
      if (h) h.digest();
      res.writeHead(201, { 'content-type': 'application/json' })
        .end(JSON.stringify({ seconds: (performance.now() - t0) / 1000 }));
    });
    server.listen(0, '127.0.0.1', () => console.log('listening on http://127.0.0.1:' + server.address().port));
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(/http:\/\/[\d.:]+/.exec(d.toString())![0]));
    child.once('exit', (code) => reject(new Error(`bare sink exited (${code})`)));
  });
  return { url, child };
}

export async function runModelsBench(o: ModelsBenchOptions): Promise<ModelsBenchResult> {
  const say = o.onProgress ?? (() => {});
  const loadStart = os.loadavg()[0]!;
  const work = await mkdtemp(path.join(os.tmpdir(), 'sv-models-bench-'));
  const token = `bench-admin-${randomBytes(12).toString('hex')}`;
  let hub: { url: string; child: ChildProcess } | undefined;
  let bare: { url: string; child: ChildProcess } | undefined;
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
    // Rounds of (disk speed, publish): other jobs on a shared machine move both, so each publish is
    // compared with the disk measured just before it and the medians are reported.
    const bigBytes = o.publishMb * 1e6;
    const bigFile = path.join(work, 'big.onnx');
    await writeFile(bigFile, padOnnx(onnx, bigBytes - onnx.length));
    const bigSize = (await stat(bigFile)).size;
    const publishManifest = (version: string) =>
      JSON.stringify({
        ...manifest,
        version,
        variants: [{ ...manifest.variants[0], sha256: undefined, sizeBytes: undefined }],
      });
    const hubPid = hub.child.pid!;
    const rounds: PublishRound[] = [];
    bare = await startBareSink(work);
    const bareUpload = async (mode: 'read' | 'hash' | 'store') => {
      const r = await new HubClient(bare!.url, 'none').publish({ name: mode, file: bigFile });
      if (r.status !== 201) throw new Error(`bare sink: ${r.status}`);
      return bigSize / 1e6 / (r.body as unknown as { seconds: number }).seconds;
    };
    let pub: Awaited<ReturnType<HubClient['publish']>> | undefined;
    // One unmeasured publish to the hub and one upload to each bare sink first: the first upload a
    // process takes runs cold (JIT, buffers, the validation child's start) — 0.61 of the bare
    // publish in session 5's first round against 0.80–0.87 after it. The rounds measure the steady state.
    say(
      `warm-up: one publish of ${(bigSize / 1e6).toFixed(0)} MB to the hub and to each bare sink (not measured)`,
    );
    const rssAtStart = rssMb(hubPid);
    const warmRss = rssPeakSampler(hubPid);
    for (const mode of ['read', 'hash', 'store'] as const) await bareUpload(mode);
    const warm = await client
      .publish({ name: manifest.name, file: bigFile, manifestJson: publishManifest('0.0.0-warm-up') })
      .finally(() => warmRss.stop());
    if (warm.status >= 300) throw new Error(`warm-up publish: ${warm.status} ${JSON.stringify(warm.body)}`);
    for (let i = 0; i < (o.publishRounds ?? 3); i++) {
      say(`round ${i + 1}: disk write speed (${o.publishMb} MB, fsync)`);
      const disk = await diskWriteMBps(work, bigBytes);
      say(`round ${i + 1}: bare uploads (read only; + sha256; + sha256, write and fsync)`);
      const bareRead = await bareUpload('read');
      const bareHash = await bareUpload('hash');
      const bareStore = await bareUpload('store');
      say(`round ${i + 1}: publishing ${(bigSize / 1e6).toFixed(0)} MB to the hub (child process)`);
      const uploadBefore = await metricSum(hubUrl, 'hub_model_upload_seconds');
      const rssBefore = rssMb(hubPid);
      const rss = rssPeakSampler(hubPid);
      let first = 0;
      let last = 0;
      try {
        pub = await client.publish({
          name: manifest.name,
          file: bigFile,
          manifestJson: publishManifest(`0.0.${i + 1}-big`),
          onProgress: (sent, total) => {
            const now = performance.now();
            if (!first) first = now;
            if (sent >= total) last ||= now;
          },
        });
      } finally {
        rss.stop();
      }
      const total = (performance.now() - first) / 1000;
      if (pub.status >= 300)
        throw new Error(`publishing the big model: ${pub.status} ${JSON.stringify(pub.body)}`);
      await new Promise((r) => setTimeout(r, 500));
      const uploadSeconds = (await metricSum(hubUrl, 'hub_model_upload_seconds')) - uploadBefore;
      rounds.push({
        diskWriteMBps: disk,
        hubUploadMBps: bigSize / 1e6 / uploadSeconds,
        streamMBps: bigSize / 1e6 / ((last - first) / 1000),
        totalSeconds: total,
        hubRssBeforeMb: rssBefore,
        hubRssPeakMb: rss.peak,
        hubRssAfterMb: rssMb(hubPid),
        bareReadMBps: bareRead,
        bareHashMBps: bareHash,
        bareStoreMBps: bareStore,
      });
    }
    bare.child.kill('SIGTERM');

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

    const channel = o.fanoutChannel ?? 'push';
    type Desired = {
      etag: string;
      models: Array<Parameters<typeof verifyModelSignature>[1] & { version: string; digest: string }>;
    };
    /** What an edge does with a desired state naming the new version: verify, download, check. */
    const receive = async (e: (typeof edges)[number], state: Desired): Promise<number | undefined> => {
      const m = state.models.find((x) => x.version === newVersion);
      if (!m) return undefined;
      if (!verifyModelSignature(key, m)) throw new Error(`${e.nodeId}: signature does not verify`);
      const got = await fetchAndHash(`${hubUrl}/v1/blobs/${m.digest}`, e.headers);
      if (`sha256:${got}` !== m.digest) throw new Error(`${e.nodeId}: digest mismatch`);
      return performance.now();
    };
    const streams: AbortController[] = [];
    let received: Array<Promise<number>>;
    if (channel === 'push') {
      // Each edge holds its push stream open, resumed from the state it has (no event until a change).
      say(`opening ${o.edges} push streams (SSE)`);
      const opened = await Promise.all(
        edges.map(async (e) => {
          const abort = new AbortController();
          streams.push(abort);
          const res = await fetch(`${hubUrl}/v1/nodes/${e.nodeId}/models/events`, {
            headers: { ...e.headers, 'last-event-id': e.etag },
            signal: abort.signal,
          });
          if (res.status !== 200 || !res.body) throw new Error(`${e.nodeId}: push stream ${res.status}`);
          // The hub subscribes the stream before it answers: from here a change is pushed to it.
          const done = (async () => {
            let at: number | undefined;
            for await (const ev of readEventStream(res.body as unknown as AsyncIterable<Uint8Array>)) {
              if (ev.event !== 'desired-state') continue;
              at = await receive(e, JSON.parse(ev.data) as Desired);
              if (at !== undefined) break;
            }
            abort.abort();
            if (at === undefined) throw new Error(`${e.nodeId}: push stream ended before the new version`);
            return at;
          })();
          done.catch(() => {}); // awaited below, with the others
          return { done };
        }),
      );
      received = opened.map((x) => x.done);
    } else {
      received = edges.map(async (e) => {
        for (;;) {
          const res = await fetch(`${hubUrl}/v1/nodes/${e.nodeId}/models?wait=30`, {
            headers: { ...e.headers, 'if-none-match': e.etag },
          });
          if (res.status === 304) continue;
          const state = (await res.json()) as Desired;
          e.etag = res.headers.get('etag') ?? state.etag;
          const at = await receive(e, state);
          if (at !== undefined) return at;
        }
      });
    }
    say(`rollout of ${newVersion} to ${o.edges} edges (one wave, ${channel})`);
    const tr = performance.now();
    await json('POST', '/v1/rollouts', {
      model: manifest.name,
      version: newVersion,
      target: { stores },
      waves: [{ percent: 100, holdSeconds: 0 }],
    });
    const done = await Promise.all(received).finally(() => {
      for (const a of streams) a.abort();
    });
    const rolloutSeconds = (Math.max(...done) - tr) / 1000;

    // 3. Resume after a cut at 50 % -------------------------------------------------------------
    say('resumed download after a cut at 50 %');
    const partial = path.join(work, 'resume.partial');
    const controller = new AbortController();
    let seen = 0;
    const half = Math.floor(bigSize / 2);
    const bigDigest = (pub!.body as { digest: string }).digest;
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

    const median = (xs: number[]) => {
      const v = [...xs].sort((a, b) => a - b);
      return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
    };
    const ratio = median(rounds.map((r) => r.hubUploadMBps / r.diskWriteMBps));
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
      loadAverage: { start: loadStart, end: os.loadavg()[0]! },
      publish: {
        sizeMb: bigSize / 1e6,
        rounds,
        diskWriteMBps: median(rounds.map((r) => r.diskWriteMBps)),
        hubUploadMBps: median(rounds.map((r) => r.hubUploadMBps)),
        streamMBps: median(rounds.map((r) => r.streamMBps)),
        ratio,
        clientRatio: median(rounds.map((r) => r.streamMBps / r.diskWriteMBps)),
        bareReadMBps: median(rounds.map((r) => r.bareReadMBps)),
        bareHashMBps: median(rounds.map((r) => r.bareHashMBps)),
        bareStoreMBps: median(rounds.map((r) => r.bareStoreMBps)),
        bareRatio: median(rounds.map((r) => r.hubUploadMBps / r.bareStoreMBps)),
        totalSeconds: median(rounds.map((r) => r.totalSeconds)),
        // From before the warm-up: memory stays flat over every publish the hub took.
        hubRssBeforeMb: rssAtStart,
        hubRssPeakMb: Math.max(warmRss.peak, ...rounds.map((r) => r.hubRssPeakMb)),
        hubRssAfterMb: rounds.at(-1)!.hubRssAfterMb,
      },
      fanout: {
        channel,
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
        publishVsBare: median(rounds.map((r) => r.hubUploadMBps / r.bareStoreMBps)) >= 0.8,
        fanout: overhead <= 2,
        resume: resumed.resumedFrom === cutAt && resumed.transferred === bigSize - cutAt,
      },
    };
  } finally {
    hub?.child.kill('SIGTERM');
    bare?.child.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  }
}

/** The sum of a Prometheus histogram (`<name>_sum`) on the hub's `/metrics`. */
async function metricSum(hubUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${hubUrl}/metrics`)).text();
  const m = new RegExp(`^${name}_sum(?:\\{\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
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
  const mb = (x: number) => x.toFixed(0);
  return [
    `storevision bench models — ${r.date}`,
    `machine: ${r.machine.cpus} vCPU ${r.machine.cpuModel}, ${r.machine.memoryGb} GB, node ${r.machine.node}; load average ${r.loadAverage.start.toFixed(2)} at the start, ${r.loadAverage.end.toFixed(2)} at the end`,
    '',
    `publish ${p.sizeMb.toFixed(0)} MB, ${p.rounds.length} rounds (disk, then publish):`,
    ...p.rounds.map(
      (x, i) =>
        `  ${i + 1}: disk ${mb(x.diskWriteMBps)} MB/s; bare upload ${mb(x.bareReadMBps)} MB/s read only, ${mb(x.bareHashMBps)} MB/s with sha256, ${mb(x.bareStoreMBps)} MB/s with sha256 + write + fsync; hub upload ${mb(x.hubUploadMBps)} MB/s (${(x.hubUploadMBps / x.diskWriteMBps).toFixed(2)}), client sent ${mb(x.streamMBps)} MB/s; 201 after ${x.totalSeconds.toFixed(2)} s; hub RSS ${mb(x.hubRssBeforeMb)} → peak ${mb(x.hubRssPeakMb)} → ${mb(x.hubRssAfterMb)} MB`,
    ),
    `  median: hub upload (first byte → hashed, written, fsynced) ${mb(p.hubUploadMBps)} MB/s vs disk write ${mb(p.diskWriteMBps)} MB/s (fsync) = ${p.ratio.toFixed(2)} ${mark(r.targets.publish)} (target ≥ 0.80); client-side ${p.clientRatio.toFixed(2)}; 201 after ${p.totalSeconds.toFixed(2)} s (validation included); hub RSS ${mb(p.hubRssBeforeMb)} → peak ${mb(p.hubRssPeakMb)} MB (+${mb(p.hubRssPeakMb - p.hubRssBeforeMb)}) → ${mb(p.hubRssAfterMb)} MB after`,
    `  bare limits of an upload from this machine to itself (medians): ${mb(p.bareReadMBps)} MB/s read only (${(p.bareReadMBps / p.diskWriteMBps).toFixed(2)} of the disk), ${mb(p.bareHashMBps)} MB/s with sha256 (${(p.bareHashMBps / p.diskWriteMBps).toFixed(2)}), ${mb(p.bareStoreMBps)} MB/s with sha256 + write + fsync (${(p.bareStoreMBps / p.diskWriteMBps).toFixed(2)}): the bare publish`,
    `  hub upload vs the bare publish (same work without multipart, validation, database; median of the rounds' ratios): ${p.bareRatio.toFixed(2)} ${mark(r.targets.publishVsBare)} (≥ 0.80)`,
    `fan-out to ${f.edges} edges over ${f.channel === 'push' ? 'the push channel (SSE)' : 'the long-poll'} (${f.sizeMb.toFixed(1)} MB, signature + sha256 checked by each): ${f.rolloutSeconds.toFixed(2)} s from the rollout to the last verified copy vs ${f.transferSeconds.toFixed(2)} s for the same downloads alone: ${f.overheadSeconds >= 0 ? '+' : '−'}${Math.abs(f.overheadSeconds).toFixed(2)} s ${mark(r.targets.fanout)} (target ≤ +2 s)`,
    `resume after a cut at ${(r.resume.cutAt / 1e6).toFixed(1)} of ${(r.resume.sizeBytes / 1e6).toFixed(1)} MB: the resume transferred ${r.resume.resumedTransferred} bytes of the ${r.resume.rest} left ${mark(r.targets.resume)}`,
  ].join('\n');
}
