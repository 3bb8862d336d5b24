import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { NodeAssignment, NodeReport } from '@storevision/contracts';
import type { Logger } from 'pino';
import type { OrchestratorMetrics } from '../metrics.ts';
import type { StateRepository } from '../repositories/state.repository.ts';
import type { ClusterMerge, ClusterNodeSource, InventoryService } from '../services/inventory.service.ts';
import type { PlacementService } from '../services/placement.service.ts';
import { AssignmentConfigMaps } from './assignment-configmap.repository.ts';
import { NodeInformer } from './node-informer.repository.ts';
import { clusterNodeOf, mergeReport } from './node-mapping.ts';

export interface KubernetesBackendOptions {
  /** @defaultValue `KubeConfig.loadFromDefault()`: `$KUBECONFIG`, `~/.kube/config`, or the pod's service account */
  kubeConfig?: KubeConfig;
  /** Where the assignment ConfigMaps live. */
  namespace: string;
  /** Which Nodes are store nodes (a label selector); empty: all. */
  nodeSelector: string;
  /** The label that names a Node's store. */
  storeLabel: string;
  /** ConfigMap names are `<prefix>-<node>`. */
  configMapPrefix: string;
  logger: Logger;
  metrics: OrchestratorMetrics;
  /** How long the first list of Nodes may take before the orchestrator gives up starting. @defaultValue 30 s */
  syncTimeoutMs?: number;
  /** Passed to the informer (tests shorten it). */
  restartDelayMs?: number;
}

/**
 * `--backend kubernetes`: the cluster is the inventory's source of truth for which store nodes
 * exist, where they belong and whether they may run work; the placement output is written back
 * as one ConfigMap per node.
 *
 * - Node objects arrive through an informer (list + watch, see `NodeInformer`). Their labels and
 *   hardware are merged into each edge's heartbeat (`node-mapping.ts`); a Node that turns
 *   NotReady (or is cordoned, or deleted) makes its node `lost` at once, and its cameras move as
 *   after a missed heartbeat. Edges still register and heartbeat over HTTP: only they know their
 *   address, loaded models and measured throughput, and the heartbeat still catches an edge pod
 *   that died on a healthy Node.
 * - Every new assignment version is written to the node's ConfigMap (`AssignmentConfigMaps`).
 *   Edges keep long-polling `GET /v1/nodes/{node}/assignment` (and keep the last one in their
 *   Redis for autonomy): a DaemonSet's pods share one pod template, which cannot mount a
 *   ConfigMap named after the node it lands on, and reading it through the API would give every
 *   store's edges read access to every store's assignments. The ConfigMap is the durable,
 *   inspectable record (`kubectl get cm -l storevision.io/node=<node>`), and where a restarted
 *   orchestrator resumes the assignment versions from.
 */
export class KubernetesBackend implements ClusterNodeSource {
  readonly informer: NodeInformer;
  readonly configMaps: AssignmentConfigMaps;
  readonly #o: KubernetesBackendOptions;
  #wired:
    | { inventory: InventoryService; placement: PlacementService; repository: StateRepository }
    | undefined;
  /** Last "Node overrides the edge" message per node, logged once per change. */
  readonly #overrides = new Map<string, string>();

  constructor(opts: KubernetesBackendOptions) {
    this.#o = opts;
    const kubeConfig = opts.kubeConfig ?? defaultKubeConfig();
    this.informer = new NodeInformer({
      kubeConfig,
      labelSelector: opts.nodeSelector,
      logger: opts.logger,
      metrics: opts.metrics,
      ...(opts.restartDelayMs !== undefined ? { restartDelayMs: opts.restartDelayMs } : {}),
    });
    this.configMaps = new AssignmentConfigMaps({
      api: kubeConfig.makeApiClient(CoreV1Api),
      namespace: opts.namespace,
      prefix: opts.configMapPrefix,
      logger: opts.logger,
      metrics: opts.metrics,
      owner: (nodeId) => {
        const n = this.informer.get(nodeId);
        return n?.metadata?.uid ? { name: nodeId, uid: n.metadata.uid } : undefined;
      },
    });
  }

  /** `ClusterNodeSource`: the edge's report as the cluster sees it. */
  merge(nodeId: string, reported: NodeReport): ClusterMerge {
    const node = this.informer.get(nodeId);
    if (!node) {
      const sel = this.#o.nodeSelector ? ` matching "${this.#o.nodeSelector}"` : '';
      return { report: reported, ready: false, reason: `no Kubernetes Node named ${nodeId}${sel}` };
    }
    const cn = clusterNodeOf(node, this.#o.storeLabel);
    const report = mergeReport(reported, cn);
    this.#logOverrides(nodeId, reported, report, cn.problems);
    return cn.ready ? { report, ready: true } : { report, ready: false, reason: cn.reason };
  }

  /** Called by PlacementService on every new assignment version. */
  publish(a: NodeAssignment): void {
    this.configMaps.publish(a);
  }

  /**
   * Resumes the assignment versions from the ConfigMaps, lists the Nodes (the orchestrator does
   * not start without a first list), then follows every Node change into the inventory.
   */
  async start(deps: {
    inventory: InventoryService;
    placement: PlacementService;
    repository: StateRepository;
  }): Promise<void> {
    this.#wired = deps;
    const kept = await this.configMaps.load();
    for (const [nodeId, a] of kept) {
      const mine = deps.repository.assignments.get(nodeId);
      if (mine && mine.version >= a.version) continue;
      const { version, ...content } = a;
      deps.repository.assignments.set(nodeId, { version, content: JSON.stringify(content) });
    }
    this.informer.onChange((type, node) => this.#onNode(type, node));
    await this.informer.start(this.#o.syncTimeoutMs ?? 30_000);
    this.#o.logger.info(
      {
        nodes: this.informer.list().length,
        selector: this.#o.nodeSelector || '(all)',
        namespace: this.#o.namespace,
        keptAssignments: kept.size,
      },
      'Kubernetes backend: Nodes listed and watched',
    );
  }

  #onNode(type: 'add' | 'update' | 'delete', node: V1Node): void {
    const wired = this.#wired;
    const nodeId = node.metadata?.name;
    if (!wired || !nodeId) return;
    wired.inventory.refreshFromCluster(nodeId);
    if (type === 'delete') {
      this.configMaps.remove(nodeId);
      return;
    }
    // A Node that appears after its edge reported: its assignment can have a ConfigMap now.
    if (wired.repository.nodes.has(nodeId) && wired.repository.assignments.has(nodeId))
      this.configMaps.publish(wired.placement.assignment(nodeId));
  }

  #logOverrides(nodeId: string, reported: NodeReport, merged: NodeReport, problems: string[]): void {
    const diffs: string[] = [...problems];
    for (const k of ['store', 'nodePool', 'zone'] as const)
      if (reported.labels[k] !== undefined && reported.labels[k] !== merged.labels[k])
        diffs.push(`${k}: edge says ${reported.labels[k]}, Node says ${merged.labels[k]}`);
    const msg = diffs.join('; ');
    if (this.#overrides.get(nodeId) === msg) return;
    this.#overrides.set(nodeId, msg);
    if (msg) this.#o.logger.warn({ nodeId, diffs }, 'the Node object overrides what the edge reports');
  }

  async close(): Promise<void> {
    await this.informer.close();
    await this.configMaps.close();
  }
}

function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}
