/**
 * Waiting for a condition and JSON over HTTP: what the end-to-end tests in test/ (through
 * test/support.ts) and the benchmarks that drive a whole platform (`bench outage`) do to it.
 */

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `f` until it returns a defined value (errors count as "not yet"), or fails naming `what`. */
export async function until<T>(
  what: string,
  f: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: reads of JSON answers, checked by the caller's assertions
export type Json = any;

/** A request and its answer: status, the body parsed as JSON (undefined when it is not JSON) and the response. */
export async function json(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; body: Json; res: Response }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json().catch(() => undefined), res };
}
