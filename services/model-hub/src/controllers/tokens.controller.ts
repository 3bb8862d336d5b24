import { createTokenRequestSchema } from '@storevision/contracts';
import type { FastifyPluginAsync } from 'fastify';
import type { TokenService } from '../services/token.service.ts';
import type { SigningKey } from '../signing/signing-key.ts';
import { bearer, errors } from './schemas.ts';

/** API tokens (admin only) and the public signing key. */
export const tokensController: FastifyPluginAsync<{ tokens: TokenService; signingKey: SigningKey }> = async (
  app,
  { tokens, signingKey },
) => {
  app.post(
    '/v1/tokens',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Issue an API token (the secret is in this answer only)',
        tags: ['tokens'],
        body: {
          type: 'object',
          properties: {
            role: { type: 'string', enum: ['viewer', 'node', 'publisher', 'admin'] },
            label: { type: 'string' },
            expiresInSeconds: { type: 'integer' },
            stores: {
              type: 'array',
              items: { type: 'string' },
              description: 'store scope (viewer and node tokens): only these stores are visible/writable',
            },
          },
          required: ['role'],
        },
        security: bearer,
        response: { ...errors(400, 401, 403) },
      },
    },
    async (req, reply) => reply.code(201).send(await tokens.create(createTokenRequestSchema.parse(req.body))),
  );

  app.get(
    '/v1/tokens',
    {
      config: { role: 'admin' },
      schema: { summary: 'Issued tokens (never their secrets)', tags: ['tokens'], security: bearer },
    },
    async () => ({ tokens: await tokens.list() }),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/tokens/:id',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Revoke a token',
        tags: ['tokens'],
        params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        security: bearer,
        response: { ...errors(401, 403, 404) },
      },
    },
    async (req, reply) => {
      await tokens.revoke(req.params.id);
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/signing-key',
    {
      config: { role: 'public' },
      schema: {
        summary: 'The ed25519 public key every version is signed with (edges pin it)',
        tags: ['tokens'],
        response: {
          200: {
            type: 'object',
            properties: {
              algorithm: { type: 'string' },
              keyId: { type: 'string' },
              publicKeyPem: { type: 'string' },
            },
          },
        },
      },
    },
    async () => ({ algorithm: 'ed25519', keyId: signingKey.keyId, publicKeyPem: signingKey.publicKeyPem }),
  );
};
