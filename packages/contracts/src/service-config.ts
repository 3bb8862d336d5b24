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
