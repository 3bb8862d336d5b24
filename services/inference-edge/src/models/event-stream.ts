/** One server-sent event (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
export interface ServerSentEvent {
  /** `message` when the event names none. */
  event: string;
  data: string;
  /** The last event id seen on the stream so far (the spec's "last event ID buffer"). */
  id: string | undefined;
}

/**
 * Parses a `text/event-stream` body into events, as an EventSource does: fields `event`, `data`
 * (lines joined by `\n`), `id`, `retry` (passed to `onRetry`); comments and unknown fields are
 * ignored; an event is dispatched at a blank line. `onBytes` is called for every chunk read —
 * comments included — so a caller can watch the stream's liveness (heartbeats are comments).
 */
export async function* readEventStream(
  body: AsyncIterable<Uint8Array>,
  hooks: { onBytes?: () => void; onRetry?: (ms: number) => void } = {},
): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  for await (const chunk of body) {
    hooks.onBytes?.();
    buffer += decoder.decode(chunk, { stream: true });
    for (;;) {
      const eol = buffer.search(/\r\n|\r|\n/);
      // A lone `\r` at the end may be the first half of `\r\n`: wait for the next chunk.
      if (eol < 0 || (buffer[eol] === '\r' && eol === buffer.length - 1)) break;
      const line = buffer.slice(0, eol);
      buffer = buffer.slice(eol + (buffer.startsWith('\r\n', eol) ? 2 : 1));
      if (line === '') {
        if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), id };
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\0')) id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) hooks.onRetry?.(Number(value));
    }
  }
}
