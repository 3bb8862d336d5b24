import { randomUUID } from 'node:crypto';
import {
  createRolloutRequestSchema,
  type NodeHealthReport,
  type Rollout,
  type RolloutNodeState,
  type RolloutSpec,
  type RolloutState,
} from '@storevision/contracts';
import type { Logger } from 'pino';
import { HubError } from '../errors.ts';
import type {
  NodeRow,
  RolloutNodeRow,
  RolloutRepository,
  RolloutRow,
} from '../repositories/rollout.repository.ts';
import type { ModelService } from './model.service.ts';
import type { NodeService } from './node.service.ts';
import type { Principal } from './token.service.ts';

interface Wave {
  percent?: number;
  stores: string[];
  holdSeconds: number;
}
interface HealthGate {
  maxErrorRate: number;
  maxP99LatencyMs: number;
}

/**
 * Rollouts: a model version moves to the target stores wave by wave. A wave's nodes get the new
 * version in their desired state; the wave is done when every one of them reports it live and
 * within the health gate (error rate, p99) and has stayed so for `holdSeconds`; then the next wave
 * starts. A node that fails to load the version, breaches the gate, or does not switch within
 * `nodeTimeoutMs` pauses the rollout and sends the current wave's nodes back to the version each
 * ran before. Manual: pause, promote (resume a paused rollout / skip the rest of a hold), rollback
 * (every node the rollout moved).
 *
 * Evaluation runs on a timer and after every health report, serialized in this process. Rollback
 * targets must be versions the hub knows (published); a node whose previous version is unknown to
 * the hub keeps no desired entry (it keeps what it runs) and is marked failed.
 */
export class RolloutService {
  readonly #repo: RolloutRepository;
  readonly #models: ModelService;
  readonly #nodes: NodeService;
  readonly #log: Logger;
  readonly #now: () => Date;
  readonly #tickMs: number;
  readonly #nodeTimeoutMs: number;
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(opts: {
    repository: RolloutRepository;
    models: ModelService;
    nodes: NodeService;
    logger: Logger;
    /** @defaultValue 1000 */
    tickMs?: number;
    /** A wave node that has not switched by then is a breach. @defaultValue 10 min */
    nodeTimeoutMs?: number;
    now?: () => Date;
  }) {
    this.#repo = opts.repository;
    this.#models = opts.models;
    this.#nodes = opts.nodes;
    this.#log = opts.logger.child({ module: 'rollouts' });
    this.#now = opts.now ?? (() => new Date());
    this.#tickMs = opts.tickMs ?? 1000;
    this.#nodeTimeoutMs = opts.nodeTimeoutMs ?? 600_000;
  }

  start(): void {
    this.#timer ??= setInterval(
      () => void this.tick().catch((err) => this.#log.error({ err }, 'rollout tick failed')),
      this.#tickMs,
    );
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Serializes every state change of rollouts in this process. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn);
    this.#chain = run.catch(() => {});
    return run;
  }

  create(body: unknown, principal: Principal): Promise<Rollout> {
    return this.#serial(() => this.#create(body, principal));
  }

  async #create(body: unknown, principal: Principal): Promise<Rollout> {
    const parsed = createRolloutRequestSchema.safeParse(body);
    if (!parsed.success) {
      const detail = parsed.error.issues
        .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
        .join('; ');
      throw new HubError(
        parsed.error.issues.some((i) => i.path[0] === 'waves') ? 'HUB_ERR_BAD_WAVES' : 'HUB_ERR_BAD_ROLLOUT',
        detail,
      );
    }
    const spec: RolloutSpec = parsed.data;
    const version = await this.#models.resolve(spec.model, spec.version ?? spec.alias!);
    await this.#models.getVersion(spec.model, version); // 404 for an unknown model or version
    if ((await this.#repo.activeRollouts(spec.model)).length > 0)
      throw new HubError('HUB_ERR_ROLLOUT_CONFLICT', spec.model);
    const targets = (await this.#repo.listNodes()).filter((n) => matches(n, spec.target));
    if (targets.length === 0) throw new HubError('HUB_ERR_NO_TARGET_NODES', JSON.stringify(spec.target));
    const stores = [...new Set(targets.map((n) => n.store_id))].sort();
    const waves = planWaves(spec.waves, stores);
    const waveOf = new Map<string, number>();
    waves.forEach((w, i) => {
      for (const s of w.stores) waveOf.set(s, i);
    });
    const now = this.#now().toISOString();
    const id = `ro_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
    const row: RolloutRow = {
      id,
      model: spec.model,
      version,
      state: 'running',
      current_wave: 0,
      waves: JSON.stringify(waves),
      health: JSON.stringify(spec.health),
      reason: null,
      wave_started_at: null,
      wave_healthy_since: null,
      created_by: principal.tokenId,
      created_at: now,
      updated_at: now,
    };
    const nodes: RolloutNodeRow[] = targets.map((n) => ({
      rollout_id: id,
      node_id: n.id,
      store_id: n.store_id,
      wave: waveOf.get(n.store_id)!,
      state: 'pending',
      previous_version: null,
      error: null,
      updated_at: now,
    }));
    await this.#repo.insertRollout(row, nodes);
    this.#log.info(
      { id, model: spec.model, version, stores: stores.length, nodes: nodes.length },
      'rollout created',
    );
    await this.#startWave(id, 0);
    return this.#view(id);
  }

  get(id: string): Promise<Rollout> {
    return this.#view(id);
  }

  async list(): Promise<Rollout[]> {
    const rows = await this.#repo.listRollouts();
    return Promise.all(rows.map((r) => this.#view(r.id)));
  }

  pause(id: string, principal: Principal): Promise<Rollout> {
    return this.#serial(async () => {
      const r = await this.#get(id);
      if (r.state !== 'running') throw new HubError('HUB_ERR_ROLLOUT_STATE', `${id} is ${r.state}`);
      await this.#repo.updateRollout(id, {
        state: 'paused',
        reason: `paused by ${principal.tokenId}`,
        updated_at: this.#now().toISOString(),
      });
      return this.#view(id);
    });
  }

  /** Paused: resume by re-applying the current wave. Running: end the current wave's hold now. */
  promote(id: string): Promise<Rollout> {
    return this.#serial(async () => {
      const r = await this.#get(id);
      if (r.state === 'paused') {
        await this.#repo.updateRollout(id, {
          state: 'running',
          reason: null,
          updated_at: this.#now().toISOString(),
        });
        await this.#startWave(id, r.current_wave);
      } else if (r.state === 'running') {
        await this.#advance(r);
      } else throw new HubError('HUB_ERR_ROLLOUT_STATE', `${id} is ${r.state}`);
      return this.#view(id);
    });
  }

  /** Every node this rollout moved goes back to its previous version. */
  rollback(id: string, principal: Principal): Promise<Rollout> {
    return this.#serial(async () => {
      const r = await this.#get(id);
      if (r.state === 'rolled_back')
        throw new HubError('HUB_ERR_ROLLOUT_STATE', `${id} is already rolled back`);
      const nodes = (await this.#repo.rolloutNodes(id)).filter((n) => n.state !== 'pending');
      await this.#revert(r, nodes, undefined);
      await this.#repo.updateRollout(id, {
        state: 'rolled_back',
        reason: `rolled back by ${principal.tokenId}`,
        updated_at: this.#now().toISOString(),
      });
      this.#log.warn({ id }, 'rollout rolled back by hand');
      return this.#view(id);
    });
  }

  /** Evaluates every running rollout once (the timer and health reports call it). */
  tick(): Promise<void> {
    return this.#serial(async () => {
      for (const r of await this.#repo.activeRollouts()) if (r.state === 'running') await this.#evaluate(r);
    });
  }

  async #get(id: string): Promise<RolloutRow> {
    const r = await this.#repo.getRollout(id);
    if (!r) throw new HubError('HUB_ERR_ROLLOUT_NOT_FOUND', id);
    return r;
  }

  async #startWave(id: string, wave: number): Promise<void> {
    const r = await this.#get(id);
    const now = this.#now().toISOString();
    const moved: string[] = [];
    for (const n of await this.#repo.rolloutNodes(id)) {
      if (n.wave !== wave) continue;
      const node = await this.#repo.getNode(n.node_id);
      const desired = await this.#repo.getDesired(n.node_id, r.model);
      // What the node runs now is what it goes back to: its desired version, else what it reports.
      const previous =
        n.previous_version ??
        (desired?.version !== r.version ? desired?.version : undefined) ??
        reported(node, r.model) ??
        null;
      await this.#repo.setDesired(n.node_id, r.model, r.version, id, now);
      await this.#repo.updateRolloutNode(id, n.node_id, {
        state: 'updating',
        previous_version: previous === r.version ? null : previous,
        error: null,
        updated_at: now,
      });
      moved.push(n.node_id);
    }
    await this.#repo.updateRollout(id, {
      current_wave: wave,
      wave_started_at: now,
      wave_healthy_since: null,
      updated_at: now,
    });
    this.#log.info({ id, wave, nodes: moved.length }, 'rollout wave started');
    this.#nodes.notify(moved);
  }

  async #evaluate(r: RolloutRow): Promise<void> {
    const gate = JSON.parse(r.health) as HealthGate;
    const nodes = (await this.#repo.rolloutNodes(r.id)).filter((n) => n.wave === r.current_wave);
    const now = this.#now();
    const started = r.wave_started_at ? Date.parse(r.wave_started_at) : now.getTime();
    let allHealthy = true;
    for (const n of nodes) {
      const node = await this.#repo.getNode(n.node_id);
      // Only reports sent since the wave (re)started count: an old breach must not end a retry.
      const fresh = node?.health_at && r.wave_started_at && node.health_at >= r.wave_started_at;
      const verdict: Verdict = fresh ? judge(node, r, gate) : { kind: 'waiting' };
      if (verdict.kind === 'breach') {
        await this.#breach(r, nodes, n, verdict.reason);
        return;
      }
      if (verdict.kind === 'waiting') {
        allHealthy = false;
        if (now.getTime() - started > this.#nodeTimeoutMs) {
          await this.#breach(r, nodes, n, `did not run ${r.version} within ${this.#nodeTimeoutMs} ms`);
          return;
        }
        continue;
      }
      if (n.state !== 'healthy')
        await this.#repo.updateRolloutNode(r.id, n.node_id, {
          state: 'healthy',
          updated_at: now.toISOString(),
        });
    }
    if (!allHealthy) {
      if (r.wave_healthy_since)
        await this.#repo.updateRollout(r.id, { wave_healthy_since: null, updated_at: now.toISOString() });
      return;
    }
    if (!r.wave_healthy_since) {
      await this.#repo.updateRollout(r.id, {
        wave_healthy_since: now.toISOString(),
        updated_at: now.toISOString(),
      });
      r.wave_healthy_since = now.toISOString();
    }
    const waves = JSON.parse(r.waves) as Wave[];
    const hold = nodes.length === 0 ? 0 : waves[r.current_wave]!.holdSeconds * 1000;
    if (now.getTime() - Date.parse(r.wave_healthy_since) >= hold) await this.#advance(r);
  }

  async #advance(r: RolloutRow): Promise<void> {
    const waves = JSON.parse(r.waves) as Wave[];
    const now = this.#now().toISOString();
    for (const n of await this.#repo.rolloutNodes(r.id))
      if (n.wave === r.current_wave && n.state === 'updating')
        await this.#repo.updateRolloutNode(r.id, n.node_id, { state: 'healthy', updated_at: now });
    if (r.current_wave + 1 >= waves.length) {
      await this.#repo.updateRollout(r.id, { state: 'completed', reason: null, updated_at: now });
      this.#log.info({ id: r.id, model: r.model, version: r.version }, 'rollout completed');
      return;
    }
    await this.#startWave(r.id, r.current_wave + 1);
  }

  async #breach(
    r: RolloutRow,
    wave: RolloutNodeRow[],
    culprit: RolloutNodeRow,
    reason: string,
  ): Promise<void> {
    const why = `node ${culprit.node_id} (store ${culprit.store_id}): ${reason}`;
    await this.#revert(r, wave, { nodeId: culprit.node_id, error: reason });
    await this.#repo.updateRollout(r.id, {
      state: 'paused',
      reason: why,
      updated_at: this.#now().toISOString(),
    });
    this.#log.warn(
      { id: r.id, model: r.model, version: r.version, reason: why },
      'rollout paused and wave rolled back',
    );
  }

  /** Sends nodes back to their previous version (or drops their desired entry when it is unknown). */
  async #revert(
    r: RolloutRow,
    nodes: RolloutNodeRow[],
    culprit: { nodeId: string; error: string } | undefined,
  ) {
    const now = this.#now().toISOString();
    for (const n of nodes) {
      const prev = n.previous_version;
      const known = prev
        ? await this.#models.getVersion(r.model, prev).then(
            () => true,
            () => false,
          )
        : false;
      if (prev && known) await this.#repo.setDesired(n.node_id, r.model, prev, r.id, now);
      else await this.#repo.clearDesired(n.node_id, r.model);
      const isCulprit = culprit?.nodeId === n.node_id;
      await this.#repo.updateRolloutNode(r.id, n.node_id, {
        state: isCulprit || (prev && !known) ? 'failed' : 'rolled_back',
        error: isCulprit
          ? culprit.error
          : prev && !known
            ? `previous version ${prev} is not in the hub`
            : null,
        updated_at: now,
      });
    }
    this.#nodes.notify(nodes.map((n) => n.node_id));
  }

  async #view(id: string): Promise<Rollout> {
    const r = await this.#get(id);
    const rows = await this.#repo.rolloutNodes(id);
    const byStore = new Map<string, RolloutNodeRow[]>();
    for (const n of rows) byStore.set(n.store_id, [...(byStore.get(n.store_id) ?? []), n]);
    const stores = [];
    for (const [storeId, ns] of byStore) {
      const nodes = [];
      for (const n of ns) {
        const node = await this.#repo.getNode(n.node_id);
        nodes.push({
          nodeId: n.node_id,
          state: n.state as RolloutNodeState,
          previousVersion: n.previous_version,
          reportedVersion: reported(node, r.model) ?? null,
          error: n.error,
        });
      }
      stores.push({
        storeId,
        wave: Number(ns[0]!.wave),
        state: storeState(nodes.map((n) => n.state)),
        nodes,
      });
    }
    return {
      id: r.id,
      model: r.model,
      version: r.version,
      state: r.state as RolloutState,
      currentWave: Number(r.current_wave),
      waves: JSON.parse(r.waves) as Wave[],
      health: JSON.parse(r.health) as HealthGate,
      reason: r.reason,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      stores,
    };
  }
}

/** Turns the requested waves into stores per wave; throws `HUB_ERR_BAD_WAVES`. */
export function planWaves(
  waves: ReadonlyArray<{ percent?: number | undefined; stores?: string[] | undefined; holdSeconds: number }>,
  stores: readonly string[],
): Wave[] {
  const left = new Set(stores);
  let lastPercent = 0;
  let reached = 0;
  const out: Wave[] = [];
  for (const [i, w] of waves.entries()) {
    if (w.percent !== undefined) {
      if (w.percent <= lastPercent)
        throw new HubError(
          'HUB_ERR_BAD_WAVES',
          `wave ${i + 1}: percent ${w.percent} is not above ${lastPercent}`,
        );
      lastPercent = w.percent;
      const upTo = Math.ceil((w.percent / 100) * stores.length);
      const picked = stores.slice(reached, Math.max(reached, upTo)).filter((s) => left.has(s));
      reached = Math.max(reached, upTo);
      for (const s of picked) left.delete(s);
      out.push({ percent: w.percent, stores: picked, holdSeconds: w.holdSeconds });
    } else {
      for (const s of w.stores ?? [])
        if (!left.has(s))
          throw new HubError(
            'HUB_ERR_BAD_WAVES',
            `wave ${i + 1}: store ${s} is not a target or is in an earlier wave`,
          );
      for (const s of w.stores ?? []) left.delete(s);
      out.push({ stores: [...(w.stores ?? [])], holdSeconds: w.holdSeconds });
    }
  }
  if (left.size > 0)
    throw new HubError(
      'HUB_ERR_BAD_WAVES',
      `the waves leave out ${left.size} of ${stores.length} target stores`,
    );
  return out;
}

function matches(
  n: NodeRow,
  t: {
    stores?: string[] | undefined;
    nodePools?: string[] | undefined;
    labels?: Record<string, string> | undefined;
  },
): boolean {
  if (t.stores && !t.stores.includes(n.store_id)) return false;
  if (t.nodePools && !t.nodePools.includes(n.node_pool ?? n.store_id)) return false;
  if (t.labels) {
    const labels = JSON.parse(n.labels) as Record<string, string>;
    for (const [k, v] of Object.entries(t.labels)) if (labels[k] !== v) return false;
  }
  return true;
}

function healthOf(node: NodeRow | undefined): NodeHealthReport | undefined {
  return node?.health ? (JSON.parse(node.health) as NodeHealthReport) : undefined;
}

function reported(node: NodeRow | undefined, model: string): string | undefined {
  return healthOf(node)?.models.find((m) => m.name === model)?.version;
}

type Verdict = { kind: 'healthy' } | { kind: 'waiting' } | { kind: 'breach'; reason: string };

/** One wave node against the gate, from its last health report. */
function judge(node: NodeRow | undefined, r: RolloutRow, gate: HealthGate): Verdict {
  const m = healthOf(node)?.models.find((x) => x.name === r.model);
  if (!m) return { kind: 'waiting' };
  if (m.failedVersion === r.version)
    return {
      kind: 'breach',
      reason: `${m.error?.code ?? 'failed'}: ${m.error?.message ?? 'the version failed on the node'}`,
    };
  if (m.version !== r.version || m.state === 'loading') return { kind: 'waiting' };
  if (m.errorRate > gate.maxErrorRate)
    return {
      kind: 'breach',
      reason: `error rate ${m.errorRate.toFixed(3)} > ${gate.maxErrorRate} (${m.errors}/${m.runs})`,
    };
  if (m.p99Ms > gate.maxP99LatencyMs)
    return { kind: 'breach', reason: `p99 latency ${m.p99Ms} ms > ${gate.maxP99LatencyMs} ms` };
  return { kind: 'healthy' };
}

function storeState(states: RolloutNodeState[]): RolloutNodeState {
  for (const s of ['failed', 'rolled_back', 'updating', 'pending'] as const) if (states.includes(s)) return s;
  return 'healthy';
}
