import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  canonicalJson,
  createEnrolmentTokenRequestSchema,
  type DesiredState,
  type EnrolResult,
  enrolRequestSchema,
  hubNodeIdSchema,
  type NodeHealthReport,
  nodeHealthReportSchema,
} from '@storevision/contracts';
import type { Logger } from 'pino';
import { HubError } from '../errors.ts';
import type { NodeRow, RolloutRepository } from '../repositories/rollout.repository.ts';
import type { ModelService } from './model.service.ts';
import { hashToken, type Principal, type TokenService } from './token.service.ts';

/**
 * Edges as the hub sees them: enrolment (an admin's enrolment token exchanged for a node token
 * bound to one node id), health reports, and each node's desired state with change notification
 * for long-polls. A node token may read and report only for its own node; admins for any.
 *
 * Change notification is in-process (an EventEmitter): with several hub replicas an edge's
 * long-poll still ends at its `wait` and re-reads, and a push stream re-reads at every heartbeat,
 * so a change made through another replica reaches the edge within one wait or one heartbeat.
 */
export class NodeService {
  readonly #repo: RolloutRepository;
  readonly #models: ModelService;
  readonly #tokens: TokenService;
  readonly #log: Logger;
  readonly #now: () => Date;
  readonly #changes = new EventEmitter();
  #closed = false;
  /** Called after a health report is stored (the rollout engine re-evaluates at once). */
  onHealth: ((nodeId: string) => void) | undefined;

  constructor(opts: {
    repository: RolloutRepository;
    models: ModelService;
    tokens: TokenService;
    logger: Logger;
    now?: () => Date;
  }) {
    this.#repo = opts.repository;
    this.#models = opts.models;
    this.#tokens = opts.tokens;
    this.#log = opts.logger.child({ module: 'nodes' });
    this.#now = opts.now ?? (() => new Date());
    this.#changes.setMaxListeners(0);
  }

  async createEnrolmentToken(body: unknown) {
    const parsed = createEnrolmentTokenRequestSchema.safeParse(body ?? {});
    if (!parsed.success) throw new HubError('HUB_ERR_BAD_REQUEST', parsed.error.issues[0]?.message);
    const req = parsed.data;
    const token = `sve_${randomBytes(24).toString('base64url')}`;
    const now = this.#now();
    const row = {
      id: randomUUID(),
      token_hash: hashToken(token),
      store_id: req.storeId ?? null,
      uses_left: req.maxUses,
      label: req.label ?? null,
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + req.expiresInSeconds * 1000).toISOString(),
    };
    await this.#repo.insertEnrolmentToken(row);
    return { id: row.id, token, storeId: row.store_id, maxUses: req.maxUses, expiresAt: row.expires_at };
  }

  /** Exchanges an enrolment token for a node token bound to `nodeId` (re-enrolling revokes the old one). */
  async enrol(body: unknown): Promise<EnrolResult> {
    const parsed = enrolRequestSchema.safeParse(body);
    if (!parsed.success)
      throw new HubError(
        'HUB_ERR_BAD_REQUEST',
        parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      );
    const req = parsed.data;
    const now = this.#now().toISOString();
    const row = await this.#repo.useEnrolmentToken(hashToken(req.enrolmentToken), now, req.storeId);
    if (!row) throw new HubError('HUB_ERR_ENROLMENT_REFUSED');
    if (row === 'wrong-store') throw new HubError('HUB_ERR_ENROLMENT_REFUSED', 'issued for another store');
    const existing = await this.#repo.getNode(req.nodeId);
    if (existing?.token_id) await this.#tokens.revoke(existing.token_id).catch(() => {});
    // A node reports for its own store only: its token is scoped to it, so a leaked node token
    // cannot write another store's numbers.
    const created = await this.#tokens.create({
      role: 'node',
      label: `node:${req.nodeId}`,
      stores: [req.storeId],
    });
    await this.#repo.upsertNode({
      id: req.nodeId,
      storeId: req.storeId,
      nodePool: req.nodePool ?? null,
      labels: req.labels ?? {},
      tokenId: created.id,
      at: now,
    });
    this.#log.info({ nodeId: req.nodeId, storeId: req.storeId }, 'node enrolled');
    return { nodeId: req.nodeId, token: created.token, tokenId: created.id };
  }

  /**
   * Stores a node's health report; the first report registers a node that did not enrol (a node
   * token issued by an admin is then bound to it).
   */
  async reportHealth(nodeId: string, principal: Principal, body: unknown): Promise<void> {
    checkNodeId(nodeId);
    const parsed = nodeHealthReportSchema.safeParse(body);
    if (!parsed.success)
      throw new HubError(
        'HUB_ERR_BAD_HEALTH_REPORT',
        parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '),
      );
    if (principal.role === 'publisher' || principal.role === 'viewer')
      throw new HubError('HUB_ERR_FORBIDDEN', 'only the node itself (or an admin) reports its health');
    const node = await this.#repo.getNode(nodeId);
    this.#checkOwner(node, principal);
    const r: NodeHealthReport = parsed.data;
    await this.#repo.upsertNode({
      id: nodeId,
      storeId: r.storeId,
      nodePool: r.nodePool ?? null,
      labels: r.labels ?? {},
      ...(principal.role === 'node' && !node?.token_id ? { tokenId: principal.tokenId } : {}),
      health: JSON.stringify(r),
      at: this.#now().toISOString(),
    });
    this.onHealth?.(nodeId);
  }

  /** The versions the node should run, signed, with an ETag over the list. */
  async desiredState(nodeId: string, principal: Principal): Promise<DesiredState> {
    checkNodeId(nodeId);
    this.#checkOwner(await this.#repo.getNode(nodeId), principal);
    const rows = await this.#repo.desiredModels(nodeId);
    const models = [];
    for (const r of rows) {
      const v = await this.#models.getVersion(r.model, r.version).catch(() => undefined);
      if (v) models.push({ ...v, rolloutId: r.rollout_id });
    }
    const etag = `"${createHash('sha256')
      .update(canonicalJson(models.map((m) => [m.name, m.version, m.digest, m.rolloutId])))
      .digest('hex')
      .slice(0, 24)}"`;
    return { nodeId, etag, models };
  }

  /**
   * Long-poll: resolves when the node's desired state changes or after `waitMs` (or at close).
   * The caller re-reads the state and compares ETags.
   */
  waitForChange(nodeId: string, waitMs: number): Promise<void> {
    if (this.#closed || waitMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#changes.off(nodeId, done);
        this.#changes.off('*', done);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      this.#changes.on(nodeId, done);
      this.#changes.on('*', done);
    });
  }

  /**
   * Calls `fn` whenever this node's desired state may have changed, and once when the hub closes
   * (the push channel re-reads the state and sends it if its ETag moved). Returns the unsubscribe.
   */
  subscribe(nodeId: string, fn: () => void): () => void {
    this.#changes.on(nodeId, fn);
    this.#changes.on('*', fn);
    return () => {
      this.#changes.off(nodeId, fn);
      this.#changes.off('*', fn);
    };
  }

  /** Tells waiting long-polls and push streams of these nodes that their desired state changed. */
  notify(nodeIds: Iterable<string>): void {
    for (const id of nodeIds) this.#changes.emit(id);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Ends every long-poll (the hub is closing). */
  close(): void {
    this.#closed = true;
    this.#changes.emit('*');
  }

  async getNode(nodeId: string): Promise<NodeRow> {
    const n = await this.#repo.getNode(nodeId);
    if (!n) throw new HubError('HUB_ERR_NODE_NOT_FOUND', nodeId);
    return n;
  }

  async listNodes() {
    return (await this.#repo.listNodes()).map((n) => ({
      nodeId: n.id,
      storeId: n.store_id,
      nodePool: n.node_pool,
      labels: JSON.parse(n.labels) as Record<string, string>,
      health: n.health ? (JSON.parse(n.health) as NodeHealthReport) : null,
      healthAt: n.health_at,
    }));
  }

  #checkOwner(node: NodeRow | undefined, principal: Principal): void {
    if (principal.role !== 'node') return;
    if (node?.token_id && node.token_id !== principal.tokenId)
      throw new HubError('HUB_ERR_NODE_TOKEN_MISMATCH');
  }
}

function checkNodeId(id: string): void {
  if (!hubNodeIdSchema.safeParse(id).success) throw new HubError('HUB_ERR_BAD_NODE_ID', JSON.stringify(id));
}
