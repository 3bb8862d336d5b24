import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { build } from './app.ts';
import type { OrchestratorConfig } from './config.ts';
import { OrchestratorMetrics } from './metrics.ts';
import { StateRepository } from './repositories/state.repository.ts';
import { FailoverService } from './services/failover.service.ts';
import { InventoryService } from './services/inventory.service.ts';
import { PlacementService } from './services/placement.service.ts';
import { OrchestratorRepositoryView } from './services/views.ts';

export interface OrchestratorOptions {
  logger?: Logger;
  /** @defaultValue a `StateRepository` with its snapshot under `config.dataDir` */
  repository?: StateRepository;
  now?: () => number;
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
  close(): Promise<void>;
}

/** Wires the standalone backend (in-memory state with a JSON snapshot) into `build()`. Does not listen. */
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
  const plannerLog = logger.child({ module: 'placement' });
  const placement = new PlacementService({
    repository,
    metrics,
    logger: plannerLog,
    headroom: config.headroom,
    now,
  });
  const inventory = new InventoryService({
    repository,
    placement,
    logger: logger.child({ module: 'inventory' }),
    now,
  });
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
  failover.start();
  running = true;
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      running = false;
      failover.stop();
      await app.close();
      await repository.flush();
    })();
    return closed;
  };
  return { app, config, logger, metrics, repository, inventory, placement, failover, close };
}
