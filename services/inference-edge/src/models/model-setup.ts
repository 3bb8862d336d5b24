import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { EdgeConfig } from '../config.ts';
import { EdgeConfigError } from '../config.ts';
import { ModelAgent, type ModelAgentOptions, type SwappablePool } from './model-agent.ts';
import { ModelCache } from './model-cache.ts';
import { ModelHealthTracker } from './model-health.ts';

/** Where the model agent keeps an enrolled node token. */
export const nodeTokenFile = (config: EdgeConfig) => path.join(config.dataDir, 'hub-node-token');

export interface PreparedModels {
  /** The package folder each model starts from: the cached live version when it verifies, else the bundled one. */
  dirs: Record<string, string>;
  health: ModelHealthTracker;
  cache: ModelCache | undefined;
  /** The model agent over the started pool, when the hub, a token and a pinned key are configured. */
  createAgent(
    pool: SwappablePool,
    extra?: Pick<ModelAgentOptions, 'onSwap' | 'fetch' | 'pushIdleTimeoutMs' | 'pushRetryAfterMs'>,
  ): ModelAgent | undefined;
}

/**
 * Decides where each model starts from and prepares the model agent. With a pinned hub key, the
 * cache's live version of each model is used when it still verifies (signature, sha256) — so a
 * node that cannot reach the hub restarts on the models it last ran — falling back to the previous
 * version, then to the bundled package.
 */
export async function prepareModels(config: EdgeConfig, logger: Logger): Promise<PreparedModels> {
  const log = logger.child({ module: 'model-agent' });
  const dirs = Object.fromEntries(config.models.map((m) => [m, path.resolve(config.modelsDir, m)]));
  const health = new ModelHealthTracker();
  const publicKeyPem = config.hubPublicKey ? await readPublicKey(config.hubPublicKey) : undefined;
  if (!publicKeyPem) return { dirs, health, cache: undefined, createAgent: () => undefined };
  const cache = await ModelCache.open(config.modelCacheDir ?? path.join(config.dataDir, 'model-cache'), {
    maxBytes: config.modelCacheMaxBytes,
    logger: log,
  });
  for (const name of config.models) {
    for (const version of [cache.state.active[name], cache.state.previous[name]]) {
      if (!version) continue;
      const dir = await cache.verified(name, version, publicKeyPem);
      if (dir) {
        dirs[name] = dir;
        log.info({ model: name, version }, 'starting from the cached model version');
        break;
      }
      log.warn({ model: name, version }, 'cached model version does not verify; not used');
    }
  }
  const hubUrl = config.hubUrl;
  const hasToken =
    config.hubToken !== undefined ||
    config.hubEnrolmentToken !== undefined ||
    existsSync(nodeTokenFile(config));
  return {
    dirs,
    health,
    cache,
    createAgent(pool, extra = {}) {
      if (!hubUrl || !hasToken) return undefined;
      return new ModelAgent({
        hubUrl,
        nodeId: config.nodeId,
        storeId: config.storeId,
        nodePool: config.nodePool,
        labels: config.nodeLabels,
        token: config.hubToken,
        enrolmentToken: config.hubEnrolmentToken,
        tokenFile: nodeTokenFile(config),
        publicKeyPem,
        cache,
        pool,
        models: config.models,
        health,
        logger,
        waitSeconds: config.modelSyncWaitSeconds,
        push: config.modelSyncPush,
        healthIntervalMs: config.modelHealthIntervalMs,
        ...extra,
      });
    },
  };
}

/** `hubPublicKey` is PEM text or the path of a PEM file. */
async function readPublicKey(value: string): Promise<string> {
  if (value.includes('-----BEGIN')) return value;
  try {
    return await readFile(value, 'utf8');
  } catch (err) {
    throw new EdgeConfigError(`hubPublicKey: cannot read ${value}: ${(err as Error).message}`);
  }
}
