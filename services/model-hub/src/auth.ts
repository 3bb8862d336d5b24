import type { HubRole } from '@storevision/contracts';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Principal, TokenService } from './services/token.service.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least role a route needs, or `public`. Every route must say (see `auth`). */
    role?: HubRole | 'public';
  }
  interface FastifyRequest {
    /** Set by `auth` on protected routes. */
    principal?: Principal;
  }
}

/**
 * Authentication and authorization for every route, fail-closed: a route that does not declare
 * `config.role` cannot be registered, so a new route cannot ship unprotected by omission. Runs in
 * `onRequest`, before any body is read, so an unauthorized upload is refused before it streams.
 */
export const auth = fp<{ tokens: TokenService }>(async (app, { tokens }) => {
  app.addHook('onRoute', (route) => {
    const role = (route.config as { role?: unknown } | undefined)?.role;
    // @fastify/swagger's own documentation routes and HEAD twins are exempt by construction.
    const exempt = route.url.startsWith('/documentation') || route.method === 'HEAD';
    if (role === undefined && !exempt)
      throw new Error(`route ${String(route.method)} ${route.url} declares no config.role`);
  });
  app.addHook('onRequest', async (req) => {
    const role = req.routeOptions.config.role;
    if (role === undefined || role === 'public') return;
    // The dashboard keeps its token in a cookie (an EventSource cannot send headers). Only reads
    // may use it: a cookie rides along on cross-site requests, a header never does (no CSRF).
    const header =
      req.headers.authorization ??
      (req.method === 'GET' || req.method === 'HEAD' ? cookieToken(req.headers.cookie) : undefined);
    const principal = await tokens.authenticate(header);
    tokens.authorize(principal, role);
    req.principal = principal;
  });
}) as FastifyPluginAsync<{ tokens: TokenService }>;

/** `Bearer <sv_token cookie>`, when the cookie is there. */
function cookieToken(cookie: string | undefined): string | undefined {
  const m = /(?:^|;\s*)sv_token=([^;]+)/.exec(cookie ?? '');
  if (!m) return undefined;
  try {
    return `Bearer ${decodeURIComponent(m[1]!)}`;
  } catch {
    return 'Bearer (malformed cookie)'; // refused as an unknown token, never a 500
  }
}
