import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { auth } from './auth.ts';
import type { TokenService } from './services/token.service.ts';
import { findPostgresBin } from './testing/postgres.ts';

describe('auth plugin', () => {
  it('refuses to register a route that declares no role (fail-closed)', async () => {
    const app = Fastify();
    await app.register(auth, { tokens: {} as TokenService });
    expect(() => app.get('/v1/forgotten', async () => 'open')).toThrow('declares no config.role');
    app.get('/v1/declared', { config: { role: 'viewer' } }, async () => 'ok');
    await app.close();
  });
});

describe('PostgreSQL test fixture', () => {
  it('finds no server where none is installed (the tests then fail, telling to run the bootstrap)', () => {
    expect(findPostgresBin('/nonexistent/postgresql')).toBeUndefined();
  });
});
