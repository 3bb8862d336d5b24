import { describe, expect, it } from 'vitest';
import {
  checkDropAccounting,
  defaultBareConfigs,
  formatTable,
  keptUp,
  parseBareConfig,
  parseResolution,
  percentile,
  queuedFrames,
  streamFields,
  streamIdMs,
  sumFrameCounts,
  sumMetric,
  summarizeLatency,
} from './edge-bench-stats.ts';

describe('percentile (nearest rank)', () => {
  const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose

  it('gives the value at rank ceil(q·n)', () => {
    expect(percentile(values, 0.5)).toBe(50);
    expect(percentile(values, 0.99)).toBe(99);
    expect(percentile(values, 1)).toBe(100);
    expect(percentile(values, 0)).toBe(1);
  });

  it('handles tiny and empty samples', () => {
    expect(percentile([7], 0.99)).toBe(7);
    expect(percentile([3, 1], 0.5)).toBe(1);
    expect(percentile([], 0.5)).toBeNaN();
  });

  it('does not reorder its input', () => {
    const xs = [3, 1, 2];
    percentile(xs, 0.5);
    expect(xs).toEqual([3, 1, 2]);
  });

  it('summarizes a latency sample', () => {
    expect(summarizeLatency([10, 20, 30, 40])).toEqual({ count: 4, p50: 20, p99: 40, max: 40, mean: 25 });
    expect(summarizeLatency([]).count).toBe(0);
  });
});

describe('drop accounting', () => {
  it('is exact when every accepted frame was processed, failed or dropped', () => {
    const counts = sumFrameCounts([
      { received: 60, processed: 20, dropped: 39, failed: 1 },
      { received: 40, processed: 15, dropped: 25, failed: 0 },
    ]);
    expect(counts).toEqual({ received: 100, processed: 35, dropped: 64, failed: 1 });
    const a = checkDropAccounting(100, counts);
    expect(a.expectedDropped).toBe(64);
    expect(a.exact).toBe(true);
  });

  it('flags a frame that ended no way at all', () => {
    const a = checkDropAccounting(100, { received: 100, processed: 35, dropped: 63, failed: 1 });
    expect(a.expectedDropped).toBe(64);
    expect(a.exact).toBe(false);
  });

  it('flags frames the edge counted differently from what the cameras were told (202s)', () => {
    const a = checkDropAccounting(101, { received: 100, processed: 35, dropped: 65, failed: 1 });
    expect(a.dropped).toBe(a.expectedDropped);
    expect(a.exact).toBe(false);
  });
});

describe('Prometheus text', () => {
  const text = [
    '# HELP edge_frames_dropped_total Frames superseded',
    '# TYPE edge_frames_dropped_total counter',
    'edge_frames_dropped_total{camera="r1-cam01",node="n"} 12',
    'edge_frames_dropped_total{camera="r1-cam02",node="n"} 3',
    'edge_frames_dropped_total{camera="r2-cam01",node="n"} 100',
    'edge_frames_dropped_total_extra{camera="r1-cam01"} 7',
    'edge_queue_depth{state="waiting",node="n"} 2',
    'edge_queue_depth{state="active",node="n"} 1',
    'edge_queue_depth{state="delayed",node="n"} 0',
    'edge_queue_depth{state="completed",node="n"} 100',
    'edge_queue_depth{state="failed",node="n"} 4',
    'edge_queue_depth{state="due",node="n"} 5',
  ].join('\n');

  it('sums one metric over the samples whose labels match', () => {
    expect(sumMetric(text, 'edge_frames_dropped_total')).toBe(115);
    expect(sumMetric(text, 'edge_frames_dropped_total', (l) => l.camera!.startsWith('r1-'))).toBe(15);
  });

  it('counts waiting, active and delayed jobs and cameras due as still queued, not finished jobs', () => {
    expect(queuedFrames(text)).toBe(8);
  });
});

describe('stream entries', () => {
  it('reads the time of an entry id and its fields', () => {
    expect(streamIdMs('1767603600123-7')).toBe(1767603600123);
    expect(streamFields(['type', 'detections', 'cameraId', 'c1'])).toEqual({
      type: 'detections',
      cameraId: 'c1',
    });
  });
});

describe('option parsing', () => {
  it('reads resolutions and bare layouts', () => {
    expect(parseResolution('1920x1080')).toEqual({ width: 1920, height: 1080, label: '1920x1080' });
    expect(() => parseResolution('1920*1080')).toThrow(/WIDTHxHEIGHT/);
    expect(parseBareConfig('2x1')).toEqual({ threads: 2, intraOp: 1 });
    expect(() => parseBareConfig('0x2')).toThrow(/THREADSxINTRAOP/);
  });

  it('tries a wide layout, one thread per core and two per core, without duplicates', () => {
    expect(defaultBareConfigs(2)).toEqual([
      { threads: 1, intraOp: 2 },
      { threads: 2, intraOp: 1 },
      { threads: 4, intraOp: 1 },
    ]);
    expect(defaultBareConfigs(1)).toEqual([
      { threads: 1, intraOp: 1 },
      { threads: 2, intraOp: 1 },
    ]);
    expect(defaultBareConfigs(8)).toContainEqual({ threads: 4, intraOp: 2 });
  });
});

describe('formatTable', () => {
  it('pads columns to their widest cell, numbers right-aligned', () => {
    const t = formatTable(
      [{ header: 'resolution' }, { header: 'frames/s', align: 'right' }],
      [
        ['1280x720', '41.2'],
        ['1920x1080', '9.0'],
      ],
    );
    expect(t.split('\n')).toEqual([
      'resolution  frames/s',
      '----------  --------',
      '1280x720        41.2',
      '1920x1080        9.0',
    ]);
  });
});

describe('keptUp (sustained throughput runs)', () => {
  const run = (dropped: number, failed = 0, skippedLate = 0, drainMs: number | null = 40) => ({
    accepted: 1000,
    sent: 1000,
    skippedLate,
    drainMs,
    accounting: { dropped, failed },
  });

  it('accepts up to 1 % of the accepted frames dropped or failed, and refuses more', () => {
    expect(keptUp(run(0))).toBe(true);
    expect(keptUp(run(6, 4))).toBe(true);
    expect(keptUp(run(11))).toBe(false);
    expect(keptUp(run(5, 6))).toBe(false);
  });

  it('refuses a run whose cameras had to skip sends, or whose queue never drained', () => {
    expect(keptUp(run(0, 0, 10))).toBe(true);
    expect(keptUp(run(0, 0, 30))).toBe(false);
    expect(keptUp(run(0, 0, 0, null))).toBe(false);
    expect(keptUp({ ...run(0), accepted: 0 })).toBe(false);
  });
});
