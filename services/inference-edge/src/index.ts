export { build, type EdgeAppDeps } from './app.ts';
export {
  DEFAULT_MODELS_DIR,
  EDGE_ENV_VARS,
  type EdgeConfig,
  EdgeConfigError,
  type EdgeConfigInput,
  edgeConfigSchema,
  loadConfig,
} from './config.ts';
export { EdgeError, type EdgeErrorCode, edgeErrors, isEdgeError } from './errors.ts';
/** The edge's frame decode (also used by `storevision bench analytics --truth-boxes` for the same pixels). */
export { type DecodedFrame, decodeForModels } from './inference/frame-decoder.ts';
/** The model agent's resumable, digest-checked blob download (also used by `storevision bench models`). */
export { type BlobDownloadOptions, type BlobDownloadResult, downloadBlob } from './models/blob-download.ts';
/** The model agent's server-sent-event parser (also used by `storevision bench models`' simulated edges). */
export { readEventStream, type ServerSentEvent } from './models/event-stream.ts';
export { createEdgeNode, type EdgeNode, type EdgeNodeOptions } from './node.ts';
export { LocalRedis, type LocalRedisOptions } from './redis/local-redis.ts';
export { type RunningEdge, startEdge } from './server.ts';
/** Test support: a private `redis-server` on a free port (tests, `storevision bench edge`). */
export { startTestRedis, type TestRedis } from './testing/redis-server.ts';
export { lightModels, planThreads, type ThreadBudget } from './thread-budget.ts';
