import type { OrchestratorConfig } from './config.ts';
import { createOrchestrator, type Orchestrator, type OrchestratorOptions } from './orchestrator.ts';

export interface RunningOrchestrator {
  orchestrator: Orchestrator;
  /** Base URL it listens on. */
  url: string;
  close(): Promise<void>;
}

/** Creates an orchestrator and listens on the configured port. */
export async function startOrchestrator(
  config: OrchestratorConfig,
  opts: OrchestratorOptions = {},
): Promise<RunningOrchestrator> {
  const orchestrator = await createOrchestrator(config, opts);
  try {
    const address = await orchestrator.app.listen({ port: config.port, host: config.host });
    orchestrator.logger.info({ url: address, dataDir: config.dataDir }, 'orchestrator listening');
    const port = (orchestrator.app.server.address() as { port: number }).port;
    const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
    return { orchestrator, url, close: () => orchestrator.close() };
  } catch (err) {
    await orchestrator.close();
    throw err;
  }
}
