import type { V1Node } from '@kubernetes/client-node';
import { type Gpu, type NodeReport, storeIdSchema } from '@storevision/contracts';

/**
 * How a Kubernetes Node object reads as a store node (pure functions, no I/O).
 *
 * | what | from |
 * |---|---|
 * | store | label `storevision.io/store` (configurable), else the edge's `--store-id` |
 * | node pool | label `apps.openyurt.io/nodepool` (OpenYurt), else the edge's `--node-pool` |
 * | zone | label `topology.kubernetes.io/zone`, else the edge's |
 * | architecture | label `kubernetes.io/arch` (`amd64`, `arm64`) |
 * | GPUs | capacity `nvidia.com/gpu` (count), labels `nvidia.com/gpu.product` and `nvidia.com/gpu.memory` (MiB) of NVIDIA's GPU feature discovery |
 * | cores, memory | the edge's own figures, capped by the Node's allocatable `cpu` / `memory` |
 * | ready | condition `Ready` is `True` and the Node is not cordoned (`spec.unschedulable`) |
 *
 * The Node is authoritative for what it states; what only the edge knows (its address, loaded
 * models, execution providers, measured throughput, live load) comes from the edge's heartbeat.
 */

export const NODE_POOL_LABEL = 'apps.openyurt.io/nodepool';
export const ARCH_LABEL = 'kubernetes.io/arch';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const GPU_RESOURCE = 'nvidia.com/gpu';
export const GPU_PRODUCT_LABEL = 'nvidia.com/gpu.product';
export const GPU_MEMORY_LABEL = 'nvidia.com/gpu.memory';
/** The label that names a node's store (storevision's own). @defaultValue of `--k8s-store-label` */
export const DEFAULT_STORE_LABEL = 'storevision.io/store';

export interface ClusterNode {
  name: string;
  uid: string;
  ready: boolean;
  /** Why the node may not run work (when not ready). */
  reason?: string | undefined;
  store?: string | undefined;
  nodePool?: string | undefined;
  zone?: string | undefined;
  arch?: string | undefined;
  cores?: number | undefined;
  memoryBytes?: number | undefined;
  gpus: Gpu[];
  /** Labels that were present but unusable (a store id the inventory refuses, …). */
  problems: string[];
}

const MiB = 2 ** 20;

/** Reads a Node object. */
export function clusterNodeOf(node: V1Node, storeLabel = DEFAULT_STORE_LABEL): ClusterNode {
  const name = node.metadata?.name ?? '';
  const labels = node.metadata?.labels ?? {};
  const problems: string[] = [];
  const id = (key: string): string | undefined => {
    const v = labels[key];
    if (v === undefined || v === '') return undefined;
    if (storeIdSchema.safeParse(v).success) return v;
    problems.push(`label ${key}="${v}" is not a valid store/pool id`);
    return undefined;
  };
  const capacity = node.status?.capacity ?? {};
  const allocatable = node.status?.allocatable ?? {};
  const gpuCount = Math.floor(quantity(capacity[GPU_RESOURCE]) ?? 0);
  const gpuMemMiB = Number(labels[GPU_MEMORY_LABEL]);
  const gpu: Gpu = {
    name: labels[GPU_PRODUCT_LABEL] || 'nvidia',
    memoryBytes: Number.isFinite(gpuMemMiB) && gpuMemMiB > 0 ? Math.round(gpuMemMiB * MiB) : 0,
  };
  const cpu = quantity(allocatable.cpu ?? capacity.cpu);
  const mem = quantity(allocatable.memory ?? capacity.memory);
  const { ready, reason } = readiness(node);
  return {
    name,
    uid: node.metadata?.uid ?? '',
    ready,
    reason,
    store: id(storeLabel),
    nodePool: id(NODE_POOL_LABEL),
    zone: labels[ZONE_LABEL]?.slice(0, 64) || undefined,
    arch: labels[ARCH_LABEL] || node.status?.nodeInfo?.architecture || undefined,
    cores: cpu !== undefined && cpu >= 1 ? Math.floor(cpu) : undefined,
    memoryBytes: mem !== undefined && mem > 0 ? Math.floor(mem) : undefined,
    gpus: Array.from({ length: Math.min(gpuCount, 64) }, () => ({ ...gpu })),
    problems,
  };
}

/** Ready condition `True` and not cordoned; otherwise why not, in the operator's words. */
export function readiness(node: V1Node): { ready: boolean; reason?: string } {
  const name = node.metadata?.name ?? '';
  const c = node.status?.conditions?.find((x) => x.type === 'Ready');
  if (!c) return { ready: false, reason: `Kubernetes Node ${name} has no Ready condition yet` };
  if (c.status !== 'True') {
    const why = [c.reason, c.message].filter(Boolean).join(': ');
    return {
      ready: false,
      reason: `Kubernetes Node ${name} is ${c.status === 'Unknown' ? 'unreachable (Ready=Unknown)' : 'NotReady'}${why ? ` (${why})` : ''}`,
    };
  }
  if (node.spec?.unschedulable)
    return { ready: false, reason: `Kubernetes Node ${name} is cordoned (spec.unschedulable)` };
  return { ready: true };
}

/** The edge's report as planned: the Node's labels and hardware win over what the edge says. */
export function mergeReport(reported: NodeReport, n: ClusterNode): NodeReport {
  const labels = {
    store: n.store ?? reported.labels.store,
    ...((n.nodePool ?? reported.labels.nodePool) ? { nodePool: n.nodePool ?? reported.labels.nodePool } : {}),
    ...((n.zone ?? reported.labels.zone) ? { zone: n.zone ?? reported.labels.zone } : {}),
  };
  const c = reported.capabilities;
  return {
    ...reported,
    labels,
    capabilities: {
      ...c,
      arch: n.arch ?? c.arch,
      cores: n.cores !== undefined ? Math.min(c.cores, n.cores) : c.cores,
      memoryBytes: n.memoryBytes !== undefined ? Math.min(c.memoryBytes, n.memoryBytes) : c.memoryBytes,
      // A GPU the Node does not advertise cannot be given to the edge's pod: the Node decides.
      gpus: n.gpus,
    },
  };
}

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes resource quantity (`4`, `3500m`, `16318412Ki`, `8Gi`, `1e9`) as a number; undefined when malformed. */
export function quantity(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  if (typeof q === 'number') return Number.isFinite(q) ? q : undefined;
  const m = /^\s*([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkKMGTPE])?)\s*$/.exec(q);
  if (!m) return undefined;
  const base = Number(m[1]);
  if (m[2]) return base * 10 ** Number(m[2].slice(1));
  return base * SUFFIX[m[3] ?? '']!;
}
