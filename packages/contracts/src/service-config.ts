import type { z } from 'zod';

/**
 * How every service reads its configuration (trigger.dev's habit): environment variables by a
 * fixed name → key map, then explicit overrides (CLI options), through the service's zod schema,
 * never at import time. Returns the parsed config or one line naming every bad field, for the
 * service to throw as its own `*_ERR_CONFIG` error.
 */
export function parseServiceConfig<S extends z.ZodType>(
  schema: S,
  envMap: Readonly<Record<string, string>>,
  env: Record<string, string | undefined>,
  overrides: Record<string, unknown>,
  /** Turns an environment string into the schema's input for keys that are not plain strings. */
  fromEnv: Readonly<Record<string, (value: string) => unknown>> = {},
): { ok: true; data: z.infer<S> } | { ok: false; detail: string } {
  const raw: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(envMap)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    raw[key] = fromEnv[key] ? fromEnv[key](v) : v;
  }
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) raw[k] = v;
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, data: parsed.data };
  return {
    ok: false,
    detail: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
  };
}

/** `a, b,c` → `['a', 'b', 'c']`. */
export const envList = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** `k=v, k2=v2` → `{k: 'v', k2: 'v2'}`. */
export const envRecord = (v: string): Record<string, string> =>
  Object.fromEntries(
    envList(v)
      .map((kv) => kv.split('=').map((s) => s.trim()) as [string, string])
      .filter((kv) => kv[0]),
  );

/** The part of a Fastify app (or any HTTP app) that `closeServer` needs. */
export interface ClosableHttpApp {
  server: { closeAllConnections(): void };
  close(): PromiseLike<unknown>;
}

/**
 * Closes an HTTP app the way every service stops: requests in flight get `graceMs` to finish, then
 * every connection still open is cut. Without the cut, `close()` waits on any connection that has
 * not finished a request — a client that connected and sent nothing, or half a request, or gave up
 * on a long-poll and left its socket half-open — which Node never times out (no request started,
 * so neither `headersTimeout` nor `requestTimeout` applies): a shutdown that hangs until the
 * supervisor kills the process.
 */
export async function closeServer(app: ClosableHttpApp, graceMs = 2000): Promise<void> {
  const force = setTimeout(() => app.server.closeAllConnections(), graceMs);
  try {
    await app.close();
  } finally {
    clearTimeout(force);
  }
}
