import type { V1Node } from '@kubernetes/client-node';
import { nodeReportSchema } from '@storevision/contracts';
import { describe, expect, it } from 'vitest';
import { nodeReport } from '../testing/node-report.ts';
import { configMapName } from './assignment-configmap.repository.ts';
import { clusterNodeOf, mergeReport, quantity } from './node-mapping.ts';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

const node = (
  o: Partial<{ labels: Record<string, string>; status: V1Node['status']; spec: V1Node['spec'] }>,
) =>
  ({
    metadata: { name: 'box-1', uid: 'u-1', labels: o.labels ?? {} },
    spec: o.spec ?? {},
    status: o.status ?? { conditions: [{ type: 'Ready', status: 'True' }] },
  }) as V1Node;

describe('Node objects as store nodes', () => {
  it('parses Kubernetes quantities', () => {
    expect(quantity('4')).toBe(4);
    expect(quantity('3500m')).toBe(3.5);
    expect(quantity('16318412Ki')).toBe(16318412 * 1024);
    expect(quantity('8Gi')).toBe(8 * GiB);
    expect(quantity('1e9')).toBe(1e9);
    expect(quantity('500M')).toBe(5e8);
    expect(quantity('lots')).toBeUndefined();
    expect(quantity(undefined)).toBeUndefined();
  });

  it('reads pool, store, arch, GPUs (capacity + GPU feature discovery labels) and allocatable resources', () => {
    const n = clusterNodeOf(
      node({
        labels: {
          'apps.openyurt.io/nodepool': 'store-hz-002-gpu',
          'storevision.io/store': 'hz-002',
          'kubernetes.io/arch': 'arm64',
          'topology.kubernetes.io/zone': 'hz-b',
          'nvidia.com/gpu.product': 'NVIDIA-L4',
          'nvidia.com/gpu.memory': '23034',
        },
        status: {
          capacity: { cpu: '8', memory: '32Gi', 'nvidia.com/gpu': '2' },
          allocatable: { cpu: '7500m', memory: '30Gi', 'nvidia.com/gpu': '2' },
          conditions: [{ type: 'Ready', status: 'True' }],
        },
      }),
    );
    expect(n).toMatchObject({
      name: 'box-1',
      uid: 'u-1',
      ready: true,
      store: 'hz-002',
      nodePool: 'store-hz-002-gpu',
      zone: 'hz-b',
      arch: 'arm64',
      cores: 7,
      memoryBytes: 30 * GiB,
      problems: [],
    });
    expect(n.gpus).toEqual([
      { name: 'NVIDIA-L4', memoryBytes: 23034 * MiB },
      { name: 'NVIDIA-L4', memoryBytes: 23034 * MiB },
    ]);
  });

  it('says why a node may not run work: NotReady, Unknown, no condition, cordoned', () => {
    const notReady = clusterNodeOf(
      node({
        status: {
          conditions: [
            { type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'PLEG is not healthy' },
          ],
        },
      }),
    );
    expect(notReady).toMatchObject({
      ready: false,
      reason: 'Kubernetes Node box-1 is NotReady (KubeletNotReady: PLEG is not healthy)',
    });
    const unknown = clusterNodeOf(
      node({ status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }] } }),
    );
    expect(unknown.reason).toBe('Kubernetes Node box-1 is unreachable (Ready=Unknown) (NodeStatusUnknown)');
    expect(clusterNodeOf(node({ status: {} })).reason).toBe(
      'Kubernetes Node box-1 has no Ready condition yet',
    );
    expect(clusterNodeOf(node({ spec: { unschedulable: true } })).reason).toBe(
      'Kubernetes Node box-1 is cordoned (spec.unschedulable)',
    );
  });

  it('lets the Node win over the edge for labels and hardware, keeps what only the edge knows', () => {
    const reported = nodeReportSchema.parse(nodeReport('typo', { gpu: true, nodePool: 'p-old' }));
    const merged = mergeReport(
      reported,
      clusterNodeOf(
        node({
          labels: { 'apps.openyurt.io/nodepool': 'p1', 'kubernetes.io/arch': 'amd64' },
          status: { allocatable: { cpu: '2', memory: '4Gi' }, conditions: [] },
        }),
      ),
    );
    expect(merged.labels).toEqual({ store: 'typo', nodePool: 'p1' }); // no store label: the edge's
    expect(merged.capabilities).toMatchObject({
      arch: 'amd64',
      cores: 2, // the edge's 4, capped by the Node's allocatable 2
      memoryBytes: 4 * GiB,
      gpus: [], // no nvidia.com/gpu capacity: the pod cannot get the GPU nvidia-smi sees
      executionProviders: ['cuda', 'cpu'],
      models: reported.capabilities.models,
      throughput: reported.capabilities.throughput,
    });
    expect(merged.address).toBe(reported.address);
    // A store label that is not a store id is ignored and reported.
    const bad = clusterNodeOf(node({ labels: { 'storevision.io/store': 'a'.repeat(70) } }));
    expect(bad.store).toBeUndefined();
    expect(bad.problems[0]).toContain('storevision.io/store');
  });

  it('names assignment ConfigMaps after the node, hashing names Kubernetes would refuse', () => {
    expect(configMapName('sv-assignment', 'edge-01.store-1')).toBe('sv-assignment-edge-01.store-1');
    const odd = configMapName('sv-assignment', 'Edge_01');
    expect(odd).toMatch(/^sv-assignment-edge-01-[0-9a-f]{10}$/);
    expect(configMapName('sv-assignment', 'x'.repeat(300)).length).toBeLessThanOrEqual(253);
  });
});
