import { parseServiceConfig } from '@storevision/contracts';
import { z } from 'zod';

/**
 * The orchestrator's configuration: one zod schema, parsed by `loadConfig(env, overrides)` (never
 * at import time), frozen. Environment variables are `ORCH_*`; the CLI passes its options as
 * overrides. Standalone backend: inventory and plans live in memory, with a JSON snapshot in
 * `<dataDir>/state.json` so a restart keeps the plan (and therefore the placements) stable.
 */

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

export const orchestratorConfigSchema = z.object({
  /** HTTP port. @defaultValue 8070 */
  port: int(0, 65535).default(8070),
  /** @defaultValue '0.0.0.0' */
  host: z.string().min(1).default('0.0.0.0'),
  /** The state snapshot lives here. @defaultValue '.data/orchestrator' */
  dataDir: z.string().min(1).default('.data/orchestrator'),
  /** A node whose heartbeats stop this long is lost and its cameras move. @defaultValue 10 s */
  heartbeatTimeoutMs: int(100).default(10_000),
  /** How often lost nodes are looked for. @defaultValue 500 ms */
  sweepIntervalMs: int(10).default(500),
  /** Share of each node's capacity and memory the planner leaves free. @defaultValue 0.2 */
  headroom: z.coerce.number().min(0).max(0.9).default(0.2),
  /** Longest long-poll of an assignment (`?wait=`). @defaultValue 60 s */
  maxWaitSeconds: int(0, 600).default(60),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type OrchestratorConfig = Readonly<z.infer<typeof orchestratorConfigSchema>>;
export type OrchestratorConfigInput = z.input<typeof orchestratorConfigSchema>;

const ENV: Record<string, keyof OrchestratorConfigInput> = {
  ORCH_PORT: 'port',
  ORCH_HOST: 'host',
  ORCH_DATA_DIR: 'dataDir',
  ORCH_HEARTBEAT_TIMEOUT_MS: 'heartbeatTimeoutMs',
  ORCH_SWEEP_INTERVAL_MS: 'sweepIntervalMs',
  ORCH_HEADROOM: 'headroom',
  ORCH_MAX_WAIT_SECONDS: 'maxWaitSeconds',
  ORCH_LOG_LEVEL: 'logLevel',
};

/** Names of the environment variables, for `--help` and the README. */
export const ORCH_ENV_VARS = Object.keys(ENV);

export class OrchestratorConfigError extends Error {
  override readonly name = 'OrchestratorConfigError';
  readonly code = 'ORCH_ERR_CONFIG';
}

/** Environment, then explicit overrides (CLI options), through the schema; throws `OrchestratorConfigError`. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<OrchestratorConfigInput> = {},
): OrchestratorConfig {
  const parsed = parseServiceConfig(orchestratorConfigSchema, ENV, env, overrides);
  if (!parsed.ok) throw new OrchestratorConfigError(`invalid orchestrator configuration: ${parsed.detail}`);
  return Object.freeze(parsed.data);
}
