import type { HubConfig } from './config.ts';
import { createHub, type Hub, type HubOptions } from './hub.ts';

export interface RunningHub {
  hub: Hub;
  /** Base URL it listens on. */
  url: string;
  close(): Promise<void>;
}

/** Creates a hub and listens on the configured port. */
export async function startHub(config: HubConfig, opts: HubOptions = {}): Promise<RunningHub> {
  const hub = await createHub(config, opts);
  try {
    const address = await hub.app.listen({ port: config.port, host: config.host });
    hub.logger.info({ url: address, database: hub.database.kind }, 'hub listening');
    const port = (hub.app.server.address() as { port: number }).port;
    const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
    return { hub, url, close: () => hub.close() };
  } catch (err) {
    await hub.close();
    throw err;
  }
}
