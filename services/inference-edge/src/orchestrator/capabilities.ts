import { execFile } from 'node:child_process';
import os from 'node:os';
import type { Gpu, NodeCapabilities } from '@storevision/contracts';
import { availableExecutionProviders } from '@storevision/detector';
import sharp from 'sharp';
import type { InferenceService } from '../services/inference.service.ts';

/** GPUs as `nvidia-smi` lists them; none when it is absent or fails. */
export function detectGpus(timeoutMs = 3000): Promise<Gpu[]> {
  return new Promise((resolve) => {
    execFile(
      'nvidia-smi',
      ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits'],
      { timeout: timeoutMs },
      (err, stdout) => {
        if (err) return resolve([]);
        resolve(parseNvidiaSmi(stdout));
      },
    );
  });
}

/** `NVIDIA L4, 23034` lines (memory in MiB). */
export function parseNvidiaSmi(text: string): Gpu[] {
  const out: Gpu[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(.+?),\s*(\d+)\s*$/.exec(line);
    if (m) out.push({ name: m[1]!, memoryBytes: Number(m[2]) * 2 ** 20 });
  }
  return out;
}

/** What this machine is: CPU, memory, OS, GPUs, the onnxruntime EPs it can load, its models. */
export async function detectCapabilities(o: {
  cores: number;
  models: readonly string[];
  throughput: NodeCapabilities['throughput'];
}): Promise<NodeCapabilities> {
  return {
    arch: process.arch,
    os: `${os.platform()} ${os.release()}`,
    cores: o.cores,
    memoryBytes: os.totalmem(),
    gpus: await detectGpus(),
    executionProviders: availableExecutionProviders(),
    models: [...o.models],
    throughput: o.throughput,
  };
}

/**
 * A short measurement of what this node sustains per model: `concurrency` requests in flight
 * through the real inference threads (decode included, as frames pay it) for about `durationMs`
 * on a 1280×720 JPEG. It runs after warm-up and before the node registers, so the orchestrator
 * plans with a measured figure rather than an estimate.
 */
export async function measureThroughput(o: {
  inference: InferenceService;
  models: readonly string[];
  concurrency: number;
  durationMs: number;
}): Promise<NodeCapabilities['throughput']> {
  const image = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#7a7f86' } })
    .jpeg({ quality: 80 })
    .toBuffer();
  const out: NodeCapabilities['throughput'] = {};
  for (const model of o.models) {
    const run = () => o.inference.detect(model, { contentType: 'image/jpeg', body: image, query: {} });
    await run();
    let frames = 0;
    const start = performance.now();
    const deadline = start + o.durationMs;
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (performance.now() < deadline) {
          await run();
          frames++;
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    out[model] = { fps: Math.max(0.01, frames / seconds), measuredAt: Date.now() };
  }
  return out;
}
