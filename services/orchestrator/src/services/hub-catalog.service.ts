import { type ModelRequirementsInput, requirementsFromManifest } from '@storevision/contracts';
import type { Logger } from 'pino';
import type { StateRepository } from '../repositories/state.repository.ts';
import type { InventoryService } from './inventory.service.ts';

export interface HubCatalogOptions {
  hubUrl: string;
  /** A hub token with the viewer role. */
  hubToken: string;
  repository: StateRepository;
  inventory: InventoryService;
  logger: Logger;
  /** How often every used model is looked up again (new versions). @defaultValue 5 min */
  refreshMs?: number;
  fetch?: typeof fetch;
}

/**
 * Model requirements from the hub (issue 7: "from the manifest and the hub"): for every model a
 * camera's pipelines use, the version the fleet runs (`stable` alias, else the newest) is read
 * from the hub and its manifest turned into requirements (`requirementsFromManifest`). Requirements
 * set through `PUT /v1/models/{model}/requirements` are the operator's and are never overwritten;
 * those this sync set are marked `source: hub` and follow the hub. A hub that cannot be reached
 * changes nothing (the last requirements stay), and the next refresh tries again.
 */
export class HubCatalog {
  readonly #o: HubCatalogOptions;
  readonly #fetch: typeof fetch;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  /** Lookups done / failed (tests and logs). */
  readonly stats = { synced: 0, failed: 0 };

  constructor(o: HubCatalogOptions) {
    this.#o = o;
    this.#fetch = o.fetch ?? fetch;
  }

  start(): void {
    const tick = async () => {
      await this.sync();
      this.#timer = setTimeout(tick, this.#o.refreshMs ?? 300_000);
      this.#timer.unref();
    };
    void tick();
  }

  /** Looks up every used model without operator-set requirements (or only `models`); one at a time. */
  sync(models?: string[]): Promise<void> {
    const run = async () => {
      const used = new Set<string>();
      for (const cams of this.#o.repository.cameras.values())
        for (const c of cams.values()) for (const p of c.spec.pipelines) used.add(p.model);
      for (const model of models ?? [...used]) {
        const current = this.#o.repository.requirements.get(model);
        if (current && current.source !== 'hub') continue;
        const derived = await this.#lookup(model);
        if (!derived) continue;
        const next = { ...derived, source: 'hub' as const };
        if (current && JSON.stringify(this.#o.inventory.normalise(next)) === JSON.stringify(current))
          continue;
        this.#o.inventory.putRequirements(model, next);
        this.#o.logger.info({ model, requirements: next }, 'model requirements from the hub');
      }
    };
    this.#running = (this.#running ?? Promise.resolve()).then(run, run);
    return this.#running;
  }

  async #lookup(model: string): Promise<ModelRequirementsInput | undefined> {
    const base = `${this.#o.hubUrl.replace(/\/$/, '')}/v1/models/${encodeURIComponent(model)}`;
    const get = async (url: string) => {
      const res = await this.#fetch(url, {
        headers: { authorization: `Bearer ${this.#o.hubToken}` },
        signal: AbortSignal.timeout(10_000),
      });
      return res.ok ? ((await res.json()) as unknown) : res.status;
    };
    try {
      let v = await get(`${base}/versions/stable`);
      if (v === 404) {
        const list = await get(`${base}/versions`);
        const newest =
          typeof list === 'object'
            ? (list as { versions: Array<{ version: string }> }).versions[0]
            : undefined;
        v = newest ? await get(`${base}/versions/${encodeURIComponent(newest.version)}`) : 404;
      }
      if (typeof v === 'number') {
        if (v !== 404) this.stats.failed++;
        this.#o.logger.warn({ model, status: v }, 'the hub has no usable version of this model');
        return undefined;
      }
      this.stats.synced++;
      return requirementsFromManifest(
        (v as { manifest: Parameters<typeof requirementsFromManifest>[0] }).manifest,
      );
    } catch (err) {
      this.stats.failed++;
      this.#o.logger.warn({ err, model }, 'could not read the model from the hub');
      return undefined;
    }
  }

  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
  }
}
