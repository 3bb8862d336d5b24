import type { KubeConfig } from '@kubernetes/client-node';
import { closeServer } from '@storevision/contracts';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { build } from './app.ts';
import { type OrchestratorConfig, OrchestratorConfigError } from './config.ts';
import { KubernetesBackend } from './kubernetes/kubernetes-backend.ts';
import { OrchestratorMetrics } from './metrics.ts';
import { StateRepository } from './repositories/state.repository.ts';
import { FailoverService } from './services/failover.service.ts';
import { HubCatalog } from './services/hub-catalog.service.ts';
import { InventoryService } from './services/inventory.service.ts';
import { PlacementService } from './services/placement.service.ts';
import { OrchestratorRepositoryView } from './services/views.ts';

export interface OrchestratorOptions {
  logger?: Logger;
  /** @defaultValue a `StateRepository` with its snapshot under `config.dataDir` */
  repository?: StateRepository;
  now?: () => number;
  /** Kubernetes backend: the cluster to use. @defaultValue `KubeConfig.loadFromDefault()` */
  kubeConfig?: KubeConfig;
  /** Kubernetes backend: first wait before a failed Node list/watch is started again. @defaultValue 500 ms */
  k8sRestartDelayMs?: number;
}

export interface Orchestrator {
  app: FastifyInstance;
  config: OrchestratorConfig;
  logger: Logger;
  metrics: OrchestratorMetrics;
  repository: StateRepository;
  inventory: InventoryService;
  placement: PlacementService;
  failover: FailoverService;
  /** Present with `backend: 'kubernetes'`. */
  kubernetes?: KubernetesBackend;
  close(): Promise<void>;
}

/**
 * Wires the services into `build()`. Does not listen. Standalone backend: in-memory state with a
 * JSON snapshot. Kubernetes backend: the same, plus Node objects merged into the inventory and
 * assignments written as ConfigMaps (`kubernetes/kubernetes-backend.ts`); it resolves only once
 * the Nodes are listed.
 */
export async function createOrchestrator(
  config: OrchestratorConfig,
  opts: OrchestratorOptions = {},
): Promise<Orchestrator> {
  const logger = opts.logger ?? pino({ level: config.logLevel });
  const now = opts.now ?? Date.now;
  const repository =
    opts.repository ??
    new StateRepository({ dataDir: config.dataDir, logger: logger.child({ module: 'state' }) });
  await repository.load(now());
  const views = new OrchestratorRepositoryView(repository);
  const metrics = new OrchestratorMetrics({
    nodeCounts: () => views.counts().nodes,
    pipelineCounts: () => views.counts().pipelines,
  });
  const kubernetes =
    config.backend === 'kubernetes'
      ? new KubernetesBackend({
          ...(opts.kubeConfig ? { kubeConfig: opts.kubeConfig } : {}),
          namespace: config.k8sNamespace,
          nodeSelector: config.k8sNodeSelector,
          storeLabel: config.k8sStoreLabel,
          configMapPrefix: config.k8sConfigMapPrefix,
          logger: logger.child({ module: 'kubernetes' }),
          metrics,
          ...(opts.k8sRestartDelayMs !== undefined ? { restartDelayMs: opts.k8sRestartDelayMs } : {}),
        })
      : undefined;
  const plannerLog = logger.child({ module: 'placement' });
  const placement = new PlacementService({
    repository,
    metrics,
    logger: plannerLog,
    headroom: config.headroom,
    now,
    ...(kubernetes ? { onPublish: (a) => kubernetes.publish(a) } : {}),
  });
  let catalog: HubCatalog | undefined;
  const inventory = new InventoryService({
    repository,
    placement,
    logger: logger.child({ module: 'inventory' }),
    now,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    onModelsUsed: (models) => void catalog?.sync(models),
    ...(kubernetes ? { cluster: kubernetes } : {}),
  });
  if (config.hubUrl) {
    if (!config.hubToken)
      throw new OrchestratorConfigError(
        'invalid orchestrator configuration: hubUrl needs hubToken (a viewer token)',
      );
    catalog = new HubCatalog({
      hubUrl: config.hubUrl,
      hubToken: config.hubToken,
      repository,
      inventory,
      logger: logger.child({ module: 'hub-catalog' }),
      refreshMs: config.hubRefreshMs,
    });
  }
  const failover = new FailoverService({
    repository,
    placement,
    metrics,
    logger: logger.child({ module: 'failover' }),
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    sweepIntervalMs: config.sweepIntervalMs,
    now,
  });
  let running = false;
  const app = await build({ logger, metrics, inventory, placement, views, ready: () => running }, config);
  if (kubernetes) {
    try {
      await kubernetes.start({ inventory, placement, repository });
    } catch (err) {
      await kubernetes.close();
      await app.close();
      throw new Error(
        `the Kubernetes backend could not start (namespace ${config.k8sNamespace}): ${(err as Error).message ?? err}`,
        { cause: err },
      );
    }
  }
  failover.start();
  catalog?.start();
  running = true;
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      running = false;
      failover.stop();
      await catalog?.close();
      // Requests get 2 s to finish, then connections go (a half-open one would hold close forever).
      await closeServer(app);
      await kubernetes?.close();
      await repository.flush();
    })();
    return closed;
  };
  return {
    app,
    config,
    logger,
    metrics,
    repository,
    inventory,
    placement,
    failover,
    ...(kubernetes ? { kubernetes } : {}),
    close,
  };
}
