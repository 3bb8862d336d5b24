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
  /**
   * `standalone`: edges register over HTTP, state in memory + snapshot. `kubernetes`: Node objects
   * (informer) say which store nodes exist, their pools, hardware and readiness; assignments are
   * also written as one ConfigMap per node. @defaultValue 'standalone'
   */
  backend: z.enum(['standalone', 'kubernetes']).default('standalone'),
  /** Namespace of the assignment ConfigMaps. @defaultValue `$POD_NAMESPACE`, else 'default' */
  k8sNamespace: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a namespace is a DNS label')
    .default('default'),
  /** Label selector of the store Nodes (e.g. `apps.openyurt.io/nodepool`). @defaultValue '' (all Nodes) */
  k8sNodeSelector: z.string().max(1000).default(''),
  /** The Node label naming a node's store. @defaultValue 'storevision.io/store' */
  k8sStoreLabel: z
    .string()
    .regex(/^([a-z0-9.-]{1,253}\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, 'not a label key')
    .default('storevision.io/store'),
  /** The model hub whose manifests give model requirements; '' = only the requirements API. @defaultValue '' */
  hubUrl: z.union([z.literal(''), z.string().url()]).default(''),
  /** A hub token with the viewer role, for `hubUrl`. @defaultValue '' */
  hubToken: z.string().default(''),
  /** How often used models are looked up in the hub again. @defaultValue 5 min */
  hubRefreshMs: int(1000).default(300_000),
  /** Assignment ConfigMaps are `<prefix>-<node>`. @defaultValue 'storevision-assignment' */
  k8sConfigMapPrefix: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a DNS label of at most 63 characters')
    .default('storevision-assignment'),
});

export type OrchestratorConfig = Readonly<z.infer<typeof orchestratorConfigSchema>>;
export type OrchestratorConfigInput = z.input<typeof orchestratorConfigSchema>;

const ENV: Record<string, keyof OrchestratorConfigInput> = {
  // The chart's downward-API variable; ORCH_K8S_NAMESPACE (later in this list) wins over it.
  POD_NAMESPACE: 'k8sNamespace',
  ORCH_PORT: 'port',
  ORCH_HOST: 'host',
  ORCH_DATA_DIR: 'dataDir',
  ORCH_HEARTBEAT_TIMEOUT_MS: 'heartbeatTimeoutMs',
  ORCH_SWEEP_INTERVAL_MS: 'sweepIntervalMs',
  ORCH_HEADROOM: 'headroom',
  ORCH_MAX_WAIT_SECONDS: 'maxWaitSeconds',
  ORCH_LOG_LEVEL: 'logLevel',
  ORCH_BACKEND: 'backend',
  ORCH_K8S_NAMESPACE: 'k8sNamespace',
  ORCH_K8S_NODE_SELECTOR: 'k8sNodeSelector',
  ORCH_K8S_STORE_LABEL: 'k8sStoreLabel',
  ORCH_K8S_CONFIGMAP_PREFIX: 'k8sConfigMapPrefix',
  ORCH_HUB_URL: 'hubUrl',
  ORCH_HUB_TOKEN: 'hubToken',
  ORCH_HUB_REFRESH_MS: 'hubRefreshMs',
};

/** Names of the environment variables, for `--help` and the README. */
export const ORCH_ENV_VARS = Object.keys(ENV).filter((k) => k.startsWith('ORCH_'));

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
