import { z } from 'zod';
import { signedModelVersionSchema } from './hub.ts';
import { modelNameSchema, semverSchema } from './manifest.ts';

/**
 * Desired state, node health and rollouts between the model hub and the edges' model agents
 * (issue 5, "Rollouts" and "Desired state"). Shared by the hub, the edge and the CLI.
 */

/** Node, store and node-pool ids: 1–64 of A-Z a-z 0-9 _ . - (the edge's own rule). */
export const hubNodeIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'ids are 1–64 of A-Z a-z 0-9 _ . -');

/** Node labels (`k=v`), used to target rollouts. */
export const hubNodeLabelsSchema = z
  .record(z.string().regex(/^[A-Za-z0-9_.\-/]{1,63}$/), z.string().max(63))
  .refine((l) => Object.keys(l).length <= 32, 'at most 32 labels');

/** `POST /v1/enrolment-tokens` (admin): a bootstrap token an edge exchanges for its own node token. */
export const createEnrolmentTokenRequestSchema = z.object({
  /** Only nodes of this store may enrol with it; any store when absent. */
  storeId: hubNodeIdSchema.optional(),
  /** How many nodes may enrol with it. @defaultValue 1 */
  maxUses: z.number().int().positive().max(10_000).default(1),
  /** @defaultValue 1 day */
  expiresInSeconds: z
    .number()
    .int()
    .positive()
    .max(365 * 86_400)
    .default(86_400),
  label: z.string().min(1).max(200).optional(),
});
export type CreateEnrolmentTokenRequest = z.input<typeof createEnrolmentTokenRequestSchema>;

/** `POST /v1/nodes/enrol` (public; the enrolment token is the credential). */
export const enrolRequestSchema = z.object({
  enrolmentToken: z.string().min(16).max(200),
  nodeId: hubNodeIdSchema,
  storeId: hubNodeIdSchema,
  nodePool: hubNodeIdSchema.optional(),
  labels: hubNodeLabelsSchema.optional(),
});
export type EnrolRequest = z.infer<typeof enrolRequestSchema>;

export const enrolResultSchema = z.object({
  nodeId: hubNodeIdSchema,
  /** The node's own API token (role `node`, bound to this node id); shown once. */
  token: z.string(),
  tokenId: z.string(),
});
export type EnrolResult = z.infer<typeof enrolResultSchema>;

/** One model an edge should run, with everything it needs to verify it before loading. */
export const desiredModelSchema = signedModelVersionSchema.extend({
  /** The rollout that put it there, if any. */
  rolloutId: z.string().nullable(),
});
export type DesiredModel = z.infer<typeof desiredModelSchema>;

/**
 * `GET /v1/nodes/{nodeId}/models`: the versions the node should run. Models not listed are left
 * as the node has them (the bundled or cached version). `etag` is also the `ETag` header.
 */
export const desiredStateSchema = z.object({
  nodeId: hubNodeIdSchema,
  etag: z.string(),
  models: z.array(desiredModelSchema),
});
export type DesiredState = z.infer<typeof desiredStateSchema>;

export const modelLoadStateSchema = z.enum(['loading', 'ready', 'failed']);

/** One model's health on a node: what it runs, and how that version behaves. */
export const modelHealthSchema = z.object({
  name: modelNameSchema,
  /** The version serving frames now. */
  version: semverSchema,
  state: modelLoadStateSchema,
  /** Inference runs and failed runs of `version` since it went live (or since the node started). */
  runs: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  errorRate: z.number().min(0).max(1),
  p50Ms: z.number().nonnegative(),
  p99Ms: z.number().nonnegative(),
  /** A version the node was told to run and could not (download, signature, load or warm-up). */
  failedVersion: semverSchema.optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type ModelHealth = z.infer<typeof modelHealthSchema>;

/** `PUT /v1/nodes/{nodeId}/health`: registration facts plus per-model health. */
export const nodeHealthReportSchema = z.object({
  storeId: hubNodeIdSchema,
  nodePool: hubNodeIdSchema.optional(),
  labels: hubNodeLabelsSchema.optional(),
  models: z.array(modelHealthSchema).max(64),
});
export type NodeHealthReport = z.infer<typeof nodeHealthReportSchema>;

export const rolloutWaveSchema = z
  .object({
    /** Cumulative share of the target stores reached by the end of this wave (1–100). */
    percent: z.number().int().min(1).max(100).optional(),
    /** Or: exactly these stores join in this wave. */
    stores: z.array(hubNodeIdSchema).min(1).max(10_000).optional(),
    /** How long the wave's edges must stay healthy before the next wave starts. @defaultValue 60 */
    holdSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400)
      .default(60),
  })
  .refine((w) => (w.percent === undefined) !== (w.stores === undefined), {
    message: 'a wave has either percent or stores',
  });

export const rolloutTargetSchema = z
  .object({
    stores: z.array(hubNodeIdSchema).min(1).optional(),
    nodePools: z.array(hubNodeIdSchema).min(1).optional(),
    labels: hubNodeLabelsSchema.optional(),
  })
  .default({});

/** `POST /v1/rollouts`. */
export const createRolloutRequestSchema = z
  .object({
    model: modelNameSchema,
    version: semverSchema.optional(),
    alias: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,31}$/)
      .optional(),
    target: rolloutTargetSchema,
    waves: z.array(rolloutWaveSchema).min(1).max(20),
    health: z
      .object({
        maxErrorRate: z.number().min(0).max(1).default(0.01),
        maxP99LatencyMs: z.number().positive().default(1000),
      })
      .default({ maxErrorRate: 0.01, maxP99LatencyMs: 1000 }),
  })
  .refine((r) => (r.version === undefined) !== (r.alias === undefined), {
    message: 'give either version or alias',
  });
export type CreateRolloutRequest = z.input<typeof createRolloutRequestSchema>;
export type RolloutSpec = z.output<typeof createRolloutRequestSchema>;

export const rolloutStateSchema = z.enum(['running', 'paused', 'completed', 'rolled_back']);
export type RolloutState = z.infer<typeof rolloutStateSchema>;

export const rolloutNodeStateSchema = z.enum(['pending', 'updating', 'healthy', 'failed', 'rolled_back']);
export type RolloutNodeState = z.infer<typeof rolloutNodeStateSchema>;

/** `GET /v1/rollouts/{id}`. */
export const rolloutSchema = z.object({
  id: z.string(),
  model: modelNameSchema,
  version: semverSchema,
  state: rolloutStateSchema,
  /** Index of the wave being applied or held (0-based). */
  currentWave: z.number().int().nonnegative(),
  waves: z.array(
    z.object({
      percent: z.number().optional(),
      stores: z.array(z.string()),
      holdSeconds: z.number(),
    }),
  ),
  health: z.object({ maxErrorRate: z.number(), maxP99LatencyMs: z.number() }),
  /** Why it paused or rolled back. */
  reason: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  stores: z.array(
    z.object({
      storeId: z.string(),
      wave: z.number().int(),
      state: rolloutNodeStateSchema,
      nodes: z.array(
        z.object({
          nodeId: z.string(),
          state: rolloutNodeStateSchema,
          previousVersion: z.string().nullable(),
          reportedVersion: z.string().nullable(),
          error: z.string().nullable(),
        }),
      ),
    }),
  ),
});
export type Rollout = z.infer<typeof rolloutSchema>;
