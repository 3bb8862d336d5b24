import { describe, expect, it } from 'vitest';
import { readEventStream } from './event-stream.ts';

async function* chunks(...parts: string[]) {
  for (const p of parts) yield new TextEncoder().encode(p);
}

async function collect(...parts: string[]) {
  const retries: number[] = [];
  let reads = 0;
  const events = [];
  for await (const e of readEventStream(chunks(...parts), {
    onBytes: () => reads++,
    onRetry: (ms) => retries.push(ms),
  }))
    events.push(e);
  return { events, retries, reads };
}

describe('readEventStream', () => {
  it('parses events split anywhere across chunks, with ids, retry and comments', async () => {
    const { events, retries, reads } = await collect(
      'retry: 3000\n\n: keep-alive\n\nid: "abc"\nev',
      'ent: desired-state\ndata: {"a":',
      '1}\n\r',
      '\n: keep-alive\n\ndata: one\ndata: two\n\n',
    );
    expect(retries).toEqual([3000]);
    expect(reads).toBe(4);
    expect(events).toEqual([
      { event: 'desired-state', data: '{"a":1}', id: '"abc"' },
      { event: 'message', data: 'one\ntwo', id: '"abc"' },
    ]);
  });

  it('drops an event the stream cut before its blank line', async () => {
    const { events } = await collect('id: 1\nevent: desired-state\ndata: {"half":');
    expect(events).toEqual([]);
  });
});
