import type { StorePlacement } from '@storevision/contracts';
import type { StateRepository } from '../repositories/state.repository.ts';

/** Read-only views of the state for the API (no logic of their own). */
export class OrchestratorRepositoryView {
  readonly #repo: StateRepository;

  constructor(repo: StateRepository) {
    this.#repo = repo;
  }

  placements(store?: string): StorePlacement[] {
    return [...this.#repo.placements.values()]
      .filter((p) => !store || p.storeId === store)
      .sort((a, b) => (a.storeId < b.storeId ? -1 : 1));
  }

  counts(): { nodes: Record<string, number>; pipelines: Record<string, number> } {
    const nodes: Record<string, number> = { ready: 0, lost: 0 };
    for (const n of this.#repo.nodes.values()) nodes[n.status] = (nodes[n.status] ?? 0) + 1;
    const pipelines: Record<string, number> = { placed: 0 };
    for (const p of this.#repo.placements.values()) {
      pipelines.placed! += p.pipelines.length;
      for (const s of p.shed) pipelines[s.reason] = (pipelines[s.reason] ?? 0) + 1;
    }
    return { nodes, pipelines };
  }
}
