import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * The server-sent event streams of one controller: each opened from a reply (hijacked, so fastify
 * leaves the socket alone), kept alive with a comment every `keepAliveMs`, and all ended when the
 * hub closes (server.close would otherwise wait for them forever).
 */
export class EventStreams {
  readonly #open = new Set<ServerResponse>();

  constructor(app: FastifyInstance) {
    app.addHook('preClose', async () => this.endAll());
  }

  endAll(): void {
    for (const res of this.#open) res.end();
    this.#open.clear();
  }

  /**
   * Opens a stream on `reply`: SSE headers (no proxy buffering), `retry:` for the client's
   * reconnect delay, a keep-alive comment every `keepAliveMs` (then `onKeepAlive`), and `onClose`
   * once when either side ends it. Returns the response to write events to.
   */
  open(
    reply: FastifyReply,
    o: { retryMs: number; keepAliveMs: number; onKeepAlive?: () => void; onClose: () => void },
  ): ServerResponse {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${o.retryMs}\n\n`);
    const keepAlive = setInterval(() => {
      res.write(': keep-alive\n\n');
      o.onKeepAlive?.();
    }, o.keepAliveMs);
    this.#open.add(res);
    let closed = false;
    const done = () => {
      if (closed) return;
      closed = true;
      clearInterval(keepAlive);
      this.#open.delete(res);
      o.onClose();
    };
    reply.request.raw.once('close', done);
    res.once('close', done);
    return res;
  }
}
