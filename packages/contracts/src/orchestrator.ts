import { z } from 'zod';
import { analyticsConfigSchema } from './analytics.ts';
import { cameraIdSchema } from './edge.ts';
import { modelNameSchema } from './manifest.ts';

/**
 * The orchestrator's HTTP bodies (ARCHITECTURE.md, "orchestrator"): what an edge reports about
 * itself (capabilities, labels, live load), what a store's cameras need (pipelines), and the
 * desired state each edge receives (its assignment). Shared by the orchestrator, the edge's
 * orchestrator agent, the CLI and tests.
 */

const ID = /^[A-Za-z0-9_.-]{1,64}$/;
export const nodeIdSchema = z.string().regex(ID, 'node id must be 1–64 of A-Z a-z 0-9 _ . -');
export const storeIdSchema = z.string().regex(ID, 'store id must be 1–64 of A-Z a-z 0-9 _ . -');

export const executionProviderNameSchema = z.enum(['tensorrt', 'cuda', 'coreml', 'webgpu', 'cpu']);

export const gpuSchema = z.object({
  /** As `nvidia-smi` names it, e.g. "NVIDIA L4". */
  name: z.string().min(1).max(200),
  memoryBytes: z.number().int().nonnegative(),
});
export type Gpu = z.infer<typeof gpuSchema>;

/** A throughput the edge measured for one model (all its inference threads, decode included). */
export const modelThroughputSchema = z.object({
  /** Frames per second this node sustains running only this model. */
  fps: z.number().positive().max(100_000),
  /** Execution provider the measurement ran on. */
  executionProvider: executionProviderNameSchema.optional(),
  measuredAt: z.number().int().nonnegative().optional(),
});
export type ModelThroughput = z.infer<typeof modelThroughputSchema>;

export const nodeCapabilitiesSchema = z
  .object({
    /** `process.arch` / `kubernetes.io/arch`: x64/amd64, arm64, … */
    arch: z.string().min(1).max(32),
    os: z.string().min(1).max(200),
    cores: z.number().int().min(1).max(4096),
    memoryBytes: z.number().int().positive(),
    gpus: z.array(gpuSchema).max(64).default([]),
    executionProviders: z.array(executionProviderNameSchema).min(1),
    /** Models this node has loaded (it can run only these). */
    models: z.array(modelNameSchema).max(256).default([]),
    /** Measured throughput per model; models without one get a calibrated estimate. */
    throughput: z.record(modelNameSchema, modelThroughputSchema).default({}),
  })
  .strict();
export type NodeCapabilities = z.infer<typeof nodeCapabilitiesSchema>;
export type NodeCapabilitiesInput = z.input<typeof nodeCapabilitiesSchema>;

export const nodeLabelsSchema = z
  .object({
    store: storeIdSchema,
    /** OpenYurt node pool; a store has one by default, named after the store. */
    nodePool: storeIdSchema.optional(),
    zone: z.string().max(64).optional(),
  })
  .strict();
export type NodeLabels = z.infer<typeof nodeLabelsSchema>;

export const nodeLoadSchema = z.object({
  fpsIn: z.number().nonnegative().default(0),
  fpsProcessed: z.number().nonnegative().default(0),
  /** Frames dropped per second (newest-wins). */
  dropsPerSecond: z.number().nonnegative().default(0),
  /** Busy fraction of the node's cores, 0..1. */
  cpu: z.number().min(0).max(1).default(0),
  memoryBytes: z.number().int().nonnegative().default(0),
});
export type NodeLoad = z.infer<typeof nodeLoadSchema>;

/** `PUT /v1/nodes/{nodeId}`: registration and heartbeat in one. */
export const nodeReportSchema = z
  .object({
    /** Where the store's cameras and other edges reach this node (frames are forwarded here). */
    address: z.url({ protocol: /^https?$/ }),
    labels: nodeLabelsSchema,
    capabilities: nodeCapabilitiesSchema,
    load: nodeLoadSchema.optional(),
  })
  .strict();
export type NodeReport = z.infer<typeof nodeReportSchema>;
export type NodeReportInput = z.input<typeof nodeReportSchema>;

export const nodeStatusSchema = z.enum(['ready', 'lost']);
export type NodeStatus = z.infer<typeof nodeStatusSchema>;

/** One node as `GET /v1/nodes` lists it. */
export const nodeViewSchema = nodeReportSchema.extend({
  nodeId: nodeIdSchema,
  status: nodeStatusSchema,
  /** Why a `lost` node is lost: no heartbeat, or (Kubernetes backend) its Node is NotReady, cordoned or absent. */
  statusReason: z.string().optional(),
  registeredAt: z.number().int(),
  lastHeartbeatAt: z.number().int(),
  /** Share of the node's capacity the current plan uses (0..1, headroom excluded). */
  plannedUtilization: z.number().nonnegative(),
});
export type NodeView = z.infer<typeof nodeViewSchema>;

export const resolutionSchema = z.object({
  width: z.number().int().min(16).max(16_384),
  height: z.number().int().min(16).max(16_384),
});

export const pipelineSpecSchema = z
  .object({
    model: modelNameSchema,
    /** Lowest frame rate this pipeline is still useful at; degradation stops here. @defaultValue the camera's fps */
    minFps: z.number().positive().max(120).optional(),
    /** Higher runs first and is shed last. @defaultValue 0 */
    priority: z.number().int().min(0).max(100).default(0),
    /** The analytics config the owner node applies (`PUT /v1/cameras/{id}/analytics/config`). */
    analytics: analyticsConfigSchema.optional(),
  })
  .strict();
export type PipelineSpec = z.infer<typeof pipelineSpecSchema>;

export const cameraSourceSchema = z.union([
  z.literal('push'),
  z.string().regex(/^(rtsp|rtsps|http|https):\/\/\S+$/, 'source must be push, rtsp://… or http(s)://…'),
]);

/** `PUT /v1/stores/{storeId}/cameras/{cameraId}`. */
export const cameraSpecSchema = z
  .object({
    source: cameraSourceSchema.default('push'),
    fps: z.number().positive().max(120),
    resolution: resolutionSchema.optional(),
    /** Node pool the camera's pipelines must run in. @defaultValue the store's own */
    nodePool: storeIdSchema.optional(),
    pipelines: z.array(pipelineSpecSchema).min(1, 'a camera needs at least one pipeline').max(16),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.pipelines.forEach((p, i) => {
      if (seen.has(p.model))
        ctx.addIssue({ code: 'custom', path: ['pipelines', i, 'model'], message: `model ${p.model} twice` });
      seen.add(p.model);
      if (p.minFps !== undefined && p.minFps > c.fps)
        ctx.addIssue({
          code: 'custom',
          path: ['pipelines', i, 'minFps'],
          message: `minFps ${p.minFps} is above the camera's fps ${c.fps}`,
        });
    });
  });
export type CameraSpec = z.infer<typeof cameraSpecSchema>;
export type CameraSpecInput = z.input<typeof cameraSpecSchema>;

export const cameraViewSchema = z.object({
  storeId: storeIdSchema,
  cameraId: cameraIdSchema,
  spec: cameraSpecSchema,
  updatedAt: z.number().int(),
});
export type CameraView = z.infer<typeof cameraViewSchema>;

/** What a model needs of a node (`PUT /v1/models/{model}/requirements`; the hub's manifest later). */
export const modelRequirementsSchema = z
  .object({
    /** Resident memory of one loaded copy. @defaultValue 256 MiB */
    memoryBytes: z
      .number()
      .int()
      .nonnegative()
      .default(256 * 1024 * 1024),
    /** At least one of these must be available on the node; absent means any. */
    executionProviders: z.array(executionProviderNameSchema).min(1).optional(),
    /** Architectures the model runs on; absent means any. */
    arch: z.array(z.string().min(1).max(32)).min(1).optional(),
    /** Land on a GPU node when one has room. @defaultValue false */
    preferGpu: z.boolean().default(false),
    /** Calibrated estimate where nothing is measured: frames/s one CPU core sustains. @defaultValue 4 */
    cpuFpsPerCore: z.number().positive().default(4),
    /** Calibrated estimate on a GPU node (whole node). @defaultValue 60 */
    gpuFps: z.number().positive().default(60),
    /**
     * Who set these: `api` (an operator, `PUT /v1/models/{model}/requirements`) or `hub` (derived
     * from the published manifest by the orchestrator's hub sync, which follows the hub and never
     * overwrites `api`). @defaultValue 'api'
     */
    source: z.enum(['api', 'hub']).default('api'),
  })
  .strict();
export type ModelRequirements = z.infer<typeof modelRequirementsSchema>;
export type ModelRequirementsInput = z.input<typeof modelRequirementsSchema>;

/** One pipeline as the plan runs it. */
export const placedPipelineSchema = z.object({
  cameraId: cameraIdSchema,
  model: modelNameSchema,
  nodeId: nodeIdSchema,
  /** Planned frame rate; below the camera's fps when degraded. */
  fps: z.number().positive(),
  requestedFps: z.number().positive(),
  /** Share of the node's capacity this pipeline uses. */
  load: z.number().nonnegative(),
  /** Where the node's cost came from: its own measurement or a calibrated estimate. */
  costSource: z.enum(['measured', 'class', 'estimate']),
});
export type PlacedPipeline = z.infer<typeof placedPipelineSchema>;

export const shedReasonSchema = z.enum([
  /** Ran below the camera's fps because the store lacked capacity. */
  'fps_lowered',
  /** Dropped: not enough capacity even at minFps (lowest priority shed first). */
  'capacity',
  /** No node of the store can run it at all (model, EP, arch or memory). */
  'no_eligible_node',
  /** The store (node pool) has no ready node. */
  'no_ready_node',
]);

export const shedPipelineSchema = z.object({
  cameraId: cameraIdSchema,
  model: modelNameSchema,
  reason: shedReasonSchema,
  requestedFps: z.number().positive(),
  /** Planned fps (0 when dropped). */
  fps: z.number().nonnegative(),
  detail: z.string(),
});
export type ShedPipeline = z.infer<typeof shedPipelineSchema>;

export const storePlacementSchema = z.object({
  storeId: storeIdSchema,
  /** Bumped on every change of this store's plan. */
  version: z.number().int().nonnegative(),
  plannedAt: z.number().int(),
  pipelines: z.array(placedPipelineSchema),
  shed: z.array(shedPipelineSchema),
  /** Pipelines moved from the previous plan by this one. */
  moved: z.number().int().nonnegative(),
  objective: z.number(),
});
export type StorePlacement = z.infer<typeof storePlacementSchema>;

export const assignedPipelineSchema = z.object({
  model: modelNameSchema,
  fps: z.number().positive(),
  analytics: analyticsConfigSchema.optional(),
});

export const assignedCameraSchema = z.object({
  cameraId: cameraIdSchema,
  source: cameraSourceSchema,
  /** Sampling rate of the camera on this node: the highest of its pipelines here. */
  fps: z.number().positive(),
  pipelines: z.array(assignedPipelineSchema).min(1),
});
export type AssignedCamera = z.infer<typeof assignedCameraSchema>;

/**
 * `GET /v1/nodes/{nodeId}/assignment`: the desired state of one edge, plus the store's shared plan
 * (who runs which camera, and where each node is) so that edges can point cameras to the owner and
 * keep agreeing on failover while the orchestrator is unreachable.
 */
export const nodeAssignmentSchema = z.object({
  nodeId: nodeIdSchema,
  storeId: storeIdSchema,
  /** Monotonic per node; the ETag is `"<version>"`. */
  version: z.number().int().nonnegative(),
  planVersion: z.number().int().nonnegative(),
  cameras: z.array(assignedCameraSchema),
  store: z.object({
    nodes: z.array(z.object({ nodeId: nodeIdSchema, address: z.string(), status: nodeStatusSchema })),
    /** cameraId → node ids running its pipelines. */
    owners: z.record(cameraIdSchema, z.array(nodeIdSchema)),
    /**
     * cameraId → its analytics config, for every camera of the store that has one: a node that
     * adopts a camera by the store-local failover rule runs its analytics too. Absent in plans
     * from before it existed.
     */
    analytics: z.record(cameraIdSchema, analyticsConfigSchema).default({}),
  }),
});
export type NodeAssignment = z.infer<typeof nodeAssignmentSchema>;

/**
 * Set by an edge that forwards a push frame to the camera's owner inside the store (its node
 * id). The owner never forwards such a frame again: a plan in flux cannot bounce frames around.
 */
export const FRAME_FORWARDED_BY_HEADER = 'x-storevision-forwarded-by';

/** Runtime memory of one loaded copy per byte of weights (arena, activations), a calibrated estimate. */
const MEMORY_PER_WEIGHT_BYTE = 4;
const MEMORY_BASE_BYTES = 64 * 1024 * 1024;
const GPU_EPS = new Set(['cuda', 'tensorrt']);

/**
 * What a published model needs of a node, derived from its manifest (the orchestrator's
 * `--hub-url` sync): the execution providers of its variants; GPU preference when a CUDA or
 * TensorRT variant was published (the data scientist built one for GPU boxes); memory estimated
 * from the largest variant's weights (×4, plus 64 MiB of runtime). Throughput is not guessed here:
 * the edges measure it per model.
 */
export function requirementsFromManifest(manifest: {
  variants: Array<{ executionProviders: string[]; sizeBytes?: number | undefined }>;
}): ModelRequirementsInput {
  const eps = [...new Set(manifest.variants.flatMap((v) => v.executionProviders))].sort();
  const weights = Math.max(0, ...manifest.variants.map((v) => v.sizeBytes ?? 0));
  return {
    executionProviders: eps as ModelRequirementsInput['executionProviders'],
    preferGpu: eps.some((ep) => GPU_EPS.has(ep)),
    ...(weights > 0 ? { memoryBytes: MEMORY_BASE_BYTES + MEMORY_PER_WEIGHT_BYTE * weights } : {}),
  };
}
