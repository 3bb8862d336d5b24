import type { NodeReportInput } from '@storevision/contracts';

const GiB = 2 ** 30;

/** A well-formed node report for tests: a 4-core x64 CPU box of `store`, or a GPU box. */
export function nodeReport(
  store: string,
  o: {
    gpu?: boolean;
    address?: string;
    models?: string[];
    fps?: Record<string, number>;
    nodePool?: string;
  } = {},
): NodeReportInput {
  const models = o.models ?? ['person-detector', 'product-detector'];
  const fps = o.fps ?? Object.fromEntries(models.map((m) => [m, o.gpu ? 200 : 40]));
  return {
    address: o.address ?? 'http://127.0.0.1:8080',
    labels: { store, ...(o.nodePool ? { nodePool: o.nodePool } : {}) },
    capabilities: {
      arch: 'x64',
      os: 'linux 6.1',
      cores: 4,
      memoryBytes: 8 * GiB,
      gpus: o.gpu ? [{ name: 'NVIDIA L4', memoryBytes: 24 * GiB }] : [],
      executionProviders: o.gpu ? ['cuda', 'cpu'] : ['cpu'],
      models,
      throughput: Object.fromEntries(Object.entries(fps).map(([m, f]) => [m, { fps: f }])),
    },
    load: { fpsIn: 0, fpsProcessed: 0, dropsPerSecond: 0, cpu: 0.1, memoryBytes: 500_000_000 },
  };
}
