export { build, type HubAppDeps } from './app.ts';
export {
  HUB_ENV_VARS,
  type HubConfig,
  HubConfigError,
  type HubConfigInput,
  hubConfigSchema,
  loadConfig,
} from './config.ts';
export { HubError, type HubErrorCode, hubErrors, isHubError } from './errors.ts';
export { createHub, type Hub, type HubOptions } from './hub.ts';
export { type RunningHub, startHub } from './server.ts';
export { type BlobStore, FsBlobStore, type StagedBlob } from './storage/blob-store.ts';
