import type { Kysely } from 'kysely';
import type { HubDatabase } from '../db/schema.ts';

export interface TokenRecord {
  id: string;
  tokenHash: string;
  role: string;
  label: string | null;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  /** Store scope; null means every store. */
  stores: string[] | null;
}

/** API tokens (hashed) in the metadata database. */
export class TokenRepository {
  constructor(private readonly db: Kysely<HubDatabase>) {}

  async insert(t: Omit<TokenRecord, 'revokedAt'>): Promise<void> {
    await this.db
      .insertInto('api_tokens')
      .values({
        id: t.id,
        token_hash: t.tokenHash,
        role: t.role,
        label: t.label,
        created_at: t.createdAt,
        expires_at: t.expiresAt,
        revoked_at: null,
        stores: t.stores === null ? null : JSON.stringify(t.stores),
      })
      .execute();
  }

  async findByHash(tokenHash: string): Promise<TokenRecord | undefined> {
    const row = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    return row && toToken(row);
  }

  async list(): Promise<TokenRecord[]> {
    const rows = await this.db.selectFrom('api_tokens').selectAll().orderBy('created_at').execute();
    return rows.map(toToken);
  }

  /** Marks a token revoked; false when there is no such token. */
  async revoke(id: string, at: string): Promise<boolean> {
    const res = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }
}

function toToken(row: {
  id: string;
  token_hash: string;
  role: string;
  label: string | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  stores: string | null;
}): TokenRecord {
  return {
    id: row.id,
    tokenHash: row.token_hash,
    role: row.role,
    label: row.label,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    stores: row.stores === null ? null : (JSON.parse(row.stores) as string[]),
  };
}
