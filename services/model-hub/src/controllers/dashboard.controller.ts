import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import { HubError } from '../errors.ts';

/** The dashboard's own files (plain ES modules, no build step). */
const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url));
const FILES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'i18n.js': 'text/javascript; charset=utf-8',
  'api.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/**
 * The managers' dashboard at `/`: a static page whose code calls the API with the viewer's token
 * (kept in a cookie, which also authorises the SSE stream an `EventSource` cannot add headers to).
 * The files are public; every number comes from the API and needs the viewer role. ECharts is
 * served from node_modules, so there is nothing to build or download.
 */
export const dashboardController: FastifyPluginAsync = async (app) => {
  const require = createRequire(import.meta.url);
  const echartsPath = require.resolve('echarts/dist/echarts.min.js');
  // Read once: the files are small, and a request must not reach the file system with a user's path.
  const cache = new Map<string, Buffer>();
  const load = async (file: string, path: string) => {
    const cached = cache.get(file);
    if (cached) return cached;
    const b = await readFile(path);
    cache.set(file, b);
    return b;
  };
  const pub = { config: { role: 'public' as const }, schema: { hide: true } };

  app.get('/', pub, async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(await load('index.html', `${DASHBOARD_DIR}index.html`)),
  );

  app.get<{ Params: { file: string } }>('/ui/:file', pub, async (req, reply) => {
    const type = FILES[req.params.file];
    if (!type) throw new HubError('HUB_ERR_NOT_FOUND', `no dashboard file ${req.params.file.slice(0, 60)}`);
    return reply
      .type(type)
      .header('cache-control', 'no-cache')
      .send(await load(req.params.file, `${DASHBOARD_DIR}${req.params.file}`));
  });

  app.get('/ui/vendor/echarts.min.js', pub, async (_req, reply) =>
    reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=86400')
      .send(await load('echarts', echartsPath)),
  );
};
