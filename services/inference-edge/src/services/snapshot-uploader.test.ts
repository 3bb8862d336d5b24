import { analyticsConfigSchema, type CameraAnalyticsState, type FrameResult } from '@storevision/contracts';
import { describe, expect, it } from 'vitest';
import { snapshotBoxes } from './snapshot-uploader.ts';

const result: FrameResult = {
  frameId: 'f2',
  cameraId: 'cam-1',
  nodeId: 'n',
  captureTime: 0,
  processedAt: 0,
  width: 800,
  height: 400,
  decodeMs: 1,
  models: {
    'person-detector': {
      version: '1.0.0',
      inferMs: 1,
      detections: [
        { label: 'person', classId: 0, score: 0.91234, box: { x1: 80, y1: 40, x2: 160, y2: 240 } },
        { label: 'cart', classId: 1, score: 0.8, box: { x1: 0, y1: 0, x2: 10, y2: 10 } },
        // Boxes may poke out of the frame a little: clamped to it.
        { label: 'person', classId: 0, score: 0.5, box: { x1: -8, y1: 300, x2: 820, y2: 410 } },
      ],
    },
  },
};
const config = {
  cameraId: 'cam-1',
  version: 3,
  updatedAt: '',
  config: analyticsConfigSchema.parse({ operations: [{ type: 'occupancy' }], zones: [] }),
};
const state = (frameId: string): CameraAnalyticsState => ({
  cameraId: 'cam-1',
  storeId: 's',
  configVersion: 3,
  frameId,
  time: null,
  day: null,
  timezone: 'UTC',
  tracks: [
    {
      trackId: 7,
      label: 'person',
      score: 0.9,
      box: { x1: 400, y1: 100, x2: 480, y2: 300 },
      state: 'lost',
      zones: [],
    },
  ],
  zones: {},
  lines: {},
  queues: {},
  alerts: [],
  frames: { analysed: 1, outOfOrder: 0 },
});

describe('snapshot boxes', () => {
  it('are the tracked people right after that frame, normalised to it', () => {
    expect(snapshotBoxes({ result, state: state('f2'), config })).toEqual([
      {
        label: 'person',
        score: 0.9,
        trackId: 7,
        state: 'lost',
        box: { x1: 0.5, y1: 0.25, x2: 0.6, y2: 0.75 },
      },
    ]);
  });

  it('are the frame’s own detections of the tracked labels when the tracker skipped that frame', () => {
    // The tracker's state is of another frame (f1: it took f2 as out of order).
    expect(snapshotBoxes({ result, state: state('f1'), config })).toEqual([
      { label: 'person', score: 0.912, box: { x1: 0.1, y1: 0.1, x2: 0.2, y2: 0.6 } },
      { label: 'person', score: 0.5, box: { x1: 0, y1: 0.75, x2: 1, y2: 1 } },
    ]);
  });
});
