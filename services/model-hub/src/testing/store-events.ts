import type { AnalyticsEvent } from '@storevision/contracts';

/**
 * Store events for tests and benches, valid against `analyticsEventSchema`: `make(type, fields)`
 * fills in the common fields with a fresh id.
 */
export function eventFactory(defaults: { storeId: string; cameraId?: string; nodeId?: string }) {
  let seq = 0;
  const base = () => ({
    schemaVersion: 1 as const,
    id: `${defaults.storeId}-${defaults.cameraId ?? 'cam-a'}-${++seq}`,
    storeId: defaults.storeId,
    cameraId: defaults.cameraId ?? 'cam-a',
    nodeId: defaults.nodeId ?? 'node-1',
    frameId: `f${seq}`,
    configVersion: 1,
  });
  return {
    crossing: (time: string, line: string, direction: 'in' | 'out', trackId = 1): AnalyticsEvent => ({
      ...base(),
      type: 'line_crossing',
      time,
      line,
      direction,
      trackId,
    }),
    occupancy: (time: string, zone: string, count: number): AnalyticsEvent => ({
      ...base(),
      type: 'occupancy',
      time,
      zone,
      count,
      reason: 'change',
    }),
    exit: (time: string, zone: string, dwellSeconds: number, trackId = 1): AnalyticsEvent => ({
      ...base(),
      type: 'zone_exit',
      time,
      zone,
      trackId,
      dwellMs: dwellSeconds * 1000,
    }),
    enter: (time: string, zone: string, trackId = 1): AnalyticsEvent => ({
      ...base(),
      type: 'zone_enter',
      time,
      zone,
      trackId,
    }),
    queue: (time: string, zone: string, length: number, waitSeconds: number | null): AnalyticsEvent => ({
      ...base(),
      type: 'queue',
      time,
      zone,
      length,
      waitSeconds,
      reason: 'change',
    }),
    alert: (
      time: string,
      zone: string,
      state: 'raised' | 'cleared',
      alert: 'overcrowding' | 'loitering' = 'overcrowding',
    ): AnalyticsEvent => ({
      ...base(),
      type: 'alert',
      time,
      zone,
      alert,
      state,
      value: 9,
      threshold: 8,
    }),
  };
}

/** A `POST /v1/events/batch` body. */
export function eventBatch(storeId: string, events: unknown[], extra: Record<string, unknown> = {}) {
  return { schemaVersion: 1, nodeId: 'node-1', storeId, events, ...extra };
}
