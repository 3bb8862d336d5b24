import type { NodeAssignment } from '@storevision/contracts';
import { describe, expect, it } from 'vitest';
import { isEdgeError } from '../errors.ts';
import { CameraOwnership } from './camera-ownership.ts';
import { parseNvidiaSmi } from './capabilities.ts';

const assignment: NodeAssignment = {
  nodeId: 'a',
  storeId: 's1',
  version: 3,
  planVersion: 2,
  cameras: [{ cameraId: 'cam1', source: 'push', fps: 5, pipelines: [{ model: 'person-detector', fps: 5 }] }],
  store: {
    nodes: [
      { nodeId: 'a', address: 'http://10.0.0.1:8080', status: 'ready' },
      { nodeId: 'b', address: 'http://10.0.0.2:8080/', status: 'ready' },
    ],
    owners: { cam1: ['a'], cam2: ['b'], cam3: [] },
    analytics: {},
  },
};

describe('camera ownership', () => {
  it('runs every model on every camera until an assignment is known (no orchestrator: as before)', () => {
    const o = new CameraOwnership({ models: ['person-detector', 'other'] });
    expect(o.modelsFor('anything')).toEqual(['person-detector', 'other']);
  });

  it('runs the assigned models of its own cameras, and points other cameras to their owner', () => {
    const o = new CameraOwnership({ models: ['person-detector', 'other'] });
    o.set(assignment);
    expect(o.modelsFor('cam1')).toEqual(['person-detector']);
    try {
      o.modelsFor('cam2');
      expect.unreachable();
    } catch (err) {
      expect(isEdgeError(err, 'EDGE_ERR_CAMERA_NOT_ASSIGNED')).toBe(true);
      expect((err as { statusCode: number }).statusCode).toBe(421);
      expect((err as { location: string }).location).toBe('http://10.0.0.2:8080/v1/cameras/cam2/frames');
    }
    expect(() => o.modelsFor('cam3')).toThrow(/runs on no node of store s1/);
  });
});

describe('nvidia-smi capability report', () => {
  it('reads name and memory (MiB) per GPU', () => {
    expect(parseNvidiaSmi('NVIDIA L4, 23034\nNVIDIA H100 80GB HBM3, 81559\n')).toEqual([
      { name: 'NVIDIA L4', memoryBytes: 23034 * 2 ** 20 },
      { name: 'NVIDIA H100 80GB HBM3', memoryBytes: 81559 * 2 ** 20 },
    ]);
    expect(parseNvidiaSmi('')).toEqual([]);
  });
});
