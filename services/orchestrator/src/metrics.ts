import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The orchestrator's Prometheus metrics, in a registry of its own (tests run several in one process). */
export class OrchestratorMetrics {
  readonly registry: Registry;
  readonly httpRequestSeconds: Histogram<'method' | 'route' | 'status_code'>;
  readonly planSeconds: Histogram;
  readonly replans: Counter<'reason'>;
  readonly nodesLost: Counter;
  readonly pipelinesMoved: Counter;
  readonly nodes: Gauge<'status'>;
  readonly pipelines: Gauge<'state'>;
  /** Kubernetes backend (zero in standalone). */
  readonly k8sLists: Counter<'resource'>;
  readonly k8sNodeEvents: Counter<'type'>;
  readonly k8sWatchRestarts: Counter;
  readonly k8sConfigMapWrites: Counter<'result'>;

  constructor(
    opts: {
      nodeCounts?: () => Record<string, number>;
      pipelineCounts?: () => Record<string, number>;
    } = {},
  ) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'orch_' });
    this.registry = registry;
    const registers = [registry];
    this.httpRequestSeconds = new Histogram({
      name: 'orch_http_request_duration_seconds',
      help: 'HTTP request duration by route (long-polls included).',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60],
      registers,
    });
    this.planSeconds = new Histogram({
      name: 'orch_plan_duration_seconds',
      help: 'Time to plan one store.',
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
      registers,
    });
    this.replans = new Counter({
      name: 'orch_replans_total',
      help: 'Store plans computed, by what caused them.',
      labelNames: ['reason'],
      registers,
    });
    this.nodesLost = new Counter({
      name: 'orch_nodes_lost_total',
      help: 'Nodes marked lost after their heartbeats stopped.',
      registers,
    });
    this.pipelinesMoved = new Counter({
      name: 'orch_pipelines_moved_total',
      help: 'Pipelines a new plan moved to another node.',
      registers,
    });
    this.k8sLists = new Counter({
      name: 'orch_k8s_lists_total',
      help: 'Kubernetes list calls of the informers (the first one, and each re-list after an expired resourceVersion).',
      labelNames: ['resource'],
      registers,
    });
    this.k8sNodeEvents = new Counter({
      name: 'orch_k8s_node_events_total',
      help: 'Node changes the informer delivered (add, update, delete).',
      labelNames: ['type'],
      registers,
    });
    this.k8sWatchRestarts = new Counter({
      name: 'orch_k8s_watch_restarts_total',
      help: 'Times the Node list/watch failed and was started again.',
      registers,
    });
    this.k8sConfigMapWrites = new Counter({
      name: 'orch_k8s_configmap_writes_total',
      help: 'Assignment ConfigMap writes by result: created, updated, unchanged, deleted, conflict (409, re-read and retried), error.',
      labelNames: ['result'],
      registers,
    });
    const nodeCounts = opts.nodeCounts;
    this.nodes = new Gauge({
      name: 'orch_nodes',
      help: 'Known nodes by status.',
      labelNames: ['status'],
      registers,
      collect() {
        if (!nodeCounts) return;
        this.reset();
        for (const [status, n] of Object.entries(nodeCounts())) this.set({ status }, n);
      },
    });
    const pipelineCounts = opts.pipelineCounts;
    this.pipelines = new Gauge({
      name: 'orch_pipelines',
      help: 'Pipelines of the current plans: placed, fps_lowered, or shed by reason.',
      labelNames: ['state'],
      registers,
      collect() {
        if (!pipelineCounts) return;
        this.reset();
        for (const [state, n] of Object.entries(pipelineCounts())) this.set({ state }, n);
      },
    });
  }
}
