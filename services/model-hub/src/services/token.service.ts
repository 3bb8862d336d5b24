import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import {
  type CreatedToken,
  type CreateTokenRequest,
  HUB_ROLE_ORDER,
  type HubRole,
  hubRoleSchema,
} from '@storevision/contracts';
import { HubError } from '../errors.ts';
import type { TokenRecord, TokenRepository } from '../repositories/token.repository.ts';

/** Who a request is: a token id (`bootstrap` for the configured admin token) and its role. */
export interface Principal {
  tokenId: string;
  role: HubRole;
  /** The stores this token may see and write; absent means every store. */
  stores?: readonly string[];
}

/**
 * The store scope of a request: the stores its token may see, or undefined for every store.
 * Services take this (not the principal) so that a call without a principal stays unscoped only
 * where a caller says so explicitly.
 */
export function storeScope(principal: Principal | undefined): readonly string[] | undefined {
  return principal?.stores;
}

/** True when `scope` (see `storeScope`) covers `storeId`. */
export function inScope(scope: readonly string[] | undefined, storeId: string): boolean {
  return scope === undefined || scope.includes(storeId);
}

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** True when `role` may do what `needed` may (roles are ordered, see `HUB_ROLE_ORDER`). */
export function roleAllows(role: HubRole, needed: HubRole): boolean {
  return HUB_ROLE_ORDER.indexOf(role) >= HUB_ROLE_ORDER.indexOf(needed);
}

/**
 * API tokens: `Authorization: Bearer svh_…`. Tokens are 32 random bytes; the database keeps only
 * their sha256 (a leaked database grants nothing), and since the secret has full entropy a fast
 * hash is enough — no password-style stretching is needed.
 */
export class TokenService {
  private readonly repository: TokenRepository;
  private readonly bootstrapHash: Buffer;
  private readonly now: () => Date;

  constructor(opts: { repository: TokenRepository; bootstrapToken: string; now?: () => Date }) {
    this.repository = opts.repository;
    this.bootstrapHash = Buffer.from(hashToken(opts.bootstrapToken), 'hex');
    this.now = opts.now ?? (() => new Date());
  }

  /** Resolves the principal of an `Authorization` header; throws `HUB_ERR_UNAUTHORIZED`. */
  async authenticate(header: string | undefined): Promise<Principal> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) throw new HubError('HUB_ERR_UNAUTHORIZED', 'send Authorization: Bearer <token>');
    const hash = hashToken(m[1]!);
    // Constant-time against the bootstrap token; database tokens are looked up by their hash.
    if (timingSafeEqual(Buffer.from(hash, 'hex'), this.bootstrapHash))
      return { tokenId: 'bootstrap', role: 'admin' };
    const t = await this.repository.findByHash(hash);
    if (!t) throw new HubError('HUB_ERR_UNAUTHORIZED', 'unknown token');
    if (t.revokedAt) throw new HubError('HUB_ERR_UNAUTHORIZED', 'token revoked');
    if (t.expiresAt && Date.parse(t.expiresAt) <= this.now().getTime())
      throw new HubError('HUB_ERR_UNAUTHORIZED', `token expired at ${t.expiresAt}`);
    const role = hubRoleSchema.safeParse(t.role);
    if (!role.success) throw new HubError('HUB_ERR_UNAUTHORIZED', 'token has an unknown role');
    return { tokenId: t.id, role: role.data, ...(t.stores ? { stores: t.stores } : {}) };
  }

  /** Throws `HUB_ERR_FORBIDDEN` unless the principal's role covers `needed`. */
  authorize(principal: Principal, needed: HubRole): void {
    if (!roleAllows(principal.role, needed))
      throw new HubError('HUB_ERR_FORBIDDEN', `needs role ${needed} or higher, token has ${principal.role}`);
  }

  async create(req: CreateTokenRequest): Promise<CreatedToken> {
    // A scoped publisher or admin would still change what every store runs: refuse rather than
    // hand out a scope that does not hold.
    if (req.stores && req.role !== 'viewer' && req.role !== 'node')
      throw new HubError(
        'HUB_ERR_BAD_REQUEST',
        `a store scope applies to viewer and node tokens, not ${req.role}`,
      );
    const stores = req.stores ? [...new Set(req.stores)].sort() : null;
    const token = `svh_${randomBytes(32).toString('base64url')}`;
    const now = this.now();
    const rec = {
      id: randomUUID(),
      tokenHash: hashToken(token),
      role: req.role,
      label: req.label ?? null,
      createdAt: now.toISOString(),
      expiresAt: req.expiresInSeconds
        ? new Date(now.getTime() + req.expiresInSeconds * 1000).toISOString()
        : null,
      stores,
    };
    await this.repository.insert(rec);
    return { id: rec.id, token, role: req.role, label: rec.label, expiresAt: rec.expiresAt, stores };
  }

  async list(): Promise<Array<Omit<TokenRecord, 'tokenHash'>>> {
    return (await this.repository.list()).map(({ tokenHash: _, ...t }) => t);
  }

  async revoke(id: string): Promise<void> {
    if (!(await this.repository.revoke(id, this.now().toISOString())))
      throw new HubError('HUB_ERR_TOKEN_NOT_FOUND', id);
  }
}
