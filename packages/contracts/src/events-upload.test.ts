import { describe, expect, it } from 'vitest';
import {
  EVENT_BATCH_MAX_EVENTS,
  eventBatchAckSchema,
  eventBatchSchema,
  putStoreRequestSchema,
  storeMetricSchema,
} from './events-upload.ts';

describe('event upload contract', () => {
  it('takes a batch envelope and leaves the events to be checked one by one', () => {
    const b = eventBatchSchema.parse({
      schemaVersion: 1,
      nodeId: 'edge-1',
      storeId: 'sh-1',
      events: [{ any: 1 }],
    });
    expect(b.events).toEqual([{ any: 1 }]);
    // A heartbeat is an empty batch.
    expect(
      eventBatchSchema.safeParse({ schemaVersion: 1, nodeId: 'e', storeId: 's', events: [] }).success,
    ).toBe(true);
  });

  it.each([
    ['no schemaVersion', { nodeId: 'e', storeId: 's', events: [] }],
    ['a store id with a slash', { schemaVersion: 1, nodeId: 'e', storeId: 'a/b', events: [] }],
    ['events not an array', { schemaVersion: 1, nodeId: 'e', storeId: 's', events: {} }],
    [
      'too many events',
      { schemaVersion: 1, nodeId: 'e', storeId: 's', events: new Array(EVENT_BATCH_MAX_EVENTS + 1).fill({}) },
    ],
  ])('refuses a batch with %s', (_what, body) => {
    expect(eventBatchSchema.safeParse(body).success).toBe(false);
  });

  it('acknowledges with accepted, duplicates and rejected positions', () => {
    expect(
      eventBatchAckSchema.parse({
        accepted: 2,
        duplicates: 1,
        rejected: [{ index: 3, id: null, message: 'x' }],
      }),
    ).toMatchObject({ accepted: 2 });
    expect(eventBatchAckSchema.safeParse({ accepted: -1, duplicates: 0, rejected: [] }).success).toBe(false);
  });

  it('knows the metrics and checks store time zones', () => {
    expect(storeMetricSchema.options).toContain('queue_wait');
    expect(putStoreRequestSchema.safeParse({ timezone: 'Asia/Shanghai' }).success).toBe(true);
    expect(putStoreRequestSchema.safeParse({ timezone: 'Mars/Olympus' }).success).toBe(false);
  });
});
