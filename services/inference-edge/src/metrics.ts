import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The node's Prometheus metrics, in a registry of its own (never prom-client's global one), so
 * several edge nodes can live in one process (tests, `storevision up`).
 */
export class EdgeMetrics {
  readonly registry: Registry;
  readonly framesReceived: Counter<'camera'>;
  readonly framesProcessed: Counter<'camera'>;
  readonly framesForwarded: Counter<'camera'>;
  readonly framesDropped: Counter<'camera'>;
  readonly framesFailed: Counter<'camera' | 'reason'>;
  readonly framesWithoutMotion: Counter<'camera'>;
  readonly inferenceSeconds: Histogram<'model'>;
  readonly decodeSeconds: Histogram;
  readonly frameLatencySeconds: Histogram;
  readonly threadRestarts: Counter<'reason'>;
  readonly httpRequestSeconds: Histogram<'method' | 'route' | 'status_code'>;
  readonly queueDepth: Gauge<'state'>;
  readonly analyticsFrames: Counter<'camera'>;
  readonly analyticsEvents: Counter<'type'>;
  readonly analyticsFrameSeconds: Histogram;
  readonly eventOutboxLength: Gauge;
  readonly eventsUploaded: Counter;
  readonly eventUploadFailures: Counter<'reason'>;
  readonly eventsDropped: Counter<'reason'>;
  readonly modelSwaps: Counter<'model' | 'outcome'>;
  readonly snapshotUploads: Counter<'result'>;
  readonly snapshotSeconds: Histogram;

  constructor(opts: {
    nodeId: string;
    queueDepth?: () => Promise<Record<string, number>>;
    eventOutboxLength?: () => Promise<number>;
    /** Totals kept in Redis by the event outbox (they survive restarts, so these counters do too). */
    eventOutboxTotals?: () => Promise<{ uploaded: number; trimmed: number; rejected: number }>;
  }) {
    const registry = new Registry();
    registry.setDefaultLabels({ node: opts.nodeId });
    collectDefaultMetrics({ register: registry, prefix: 'edge_' });
    this.registry = registry;
    const registers = [registry];
    this.framesReceived = new Counter({
      name: 'edge_frames_received_total',
      help: 'Frames accepted for a camera (202).',
      labelNames: ['camera'],
      registers,
    });
    this.framesForwarded = new Counter({
      name: 'edge_frames_forwarded_total',
      help: "Frames of a camera this node does not run, forwarded to its owner inside the store (owner's 202).",
      labelNames: ['camera'],
      registers,
    });
    this.framesProcessed = new Counter({
      name: 'edge_frames_processed_total',
      help: 'Frames whose detections were written (latest result and outbox).',
      labelNames: ['camera'],
      registers,
    });
    this.framesDropped = new Counter({
      name: 'edge_frames_dropped_total',
      help: 'Frames superseded by a newer frame of the same camera before a worker took them.',
      labelNames: ['camera'],
      registers,
    });
    this.framesFailed = new Counter({
      name: 'edge_frames_failed_total',
      help: 'Frames given up on, by reason (error code, or expired).',
      labelNames: ['camera', 'reason'],
      registers,
    });
    this.framesWithoutMotion = new Counter({
      name: 'edge_frames_motionless_total',
      help: 'Processed frames whose models motion gating skipped (the result repeats the last detected frame).',
      labelNames: ['camera'],
      registers,
    });
    this.inferenceSeconds = new Histogram({
      name: 'edge_inference_seconds',
      help: 'onnxruntime run time per model and frame, including letterbox from the decoded frame.',
      labelNames: ['model'],
      buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers,
    });
    this.decodeSeconds = new Histogram({
      name: 'edge_frame_decode_seconds',
      help: 'JPEG/PNG decode time per frame (once for all models).',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
      registers,
    });
    this.frameLatencySeconds = new Histogram({
      name: 'edge_frame_latency_seconds',
      help: 'From a frame being accepted to its result being written.',
      buckets: [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30],
      registers,
    });
    this.modelSwaps = new Counter({
      name: 'edge_model_swaps_total',
      help: 'Model versions the model agent switched to (switched) or refused and kept the previous (failed).',
      labelNames: ['model', 'outcome'],
      registers,
    });
    this.threadRestarts = new Counter({
      name: 'edge_inference_thread_restarts_total',
      help: 'Inference threads replaced by the watchdog (timeout) or after dying (crash).',
      labelNames: ['reason'],
      registers,
    });
    this.httpRequestSeconds = new Histogram({
      name: 'edge_http_request_duration_seconds',
      help: 'HTTP request duration by route.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    const depth = opts.queueDepth;
    this.queueDepth = new Gauge({
      name: 'edge_queue_depth',
      help: 'Frame runner jobs in the BullMQ queue by state (active: at work; idle: waiting to take on a runner), and cameras due (a frame waiting for a runner; state="due"), read from Redis at scrape time.',
      labelNames: ['state'],
      registers,
      async collect() {
        if (!depth) return;
        try {
          for (const [state, n] of Object.entries(await depth())) this.set({ state }, n);
        } catch {
          // Redis unreachable: keep the last values rather than failing the whole scrape.
        }
      },
    });
    this.analyticsFrames = new Counter({
      name: 'edge_analytics_frames_total',
      help: 'Results tracked and analysed, per camera with an analytics config.',
      labelNames: ['camera'],
      registers,
    });
    this.analyticsEvents = new Counter({
      name: 'edge_analytics_events_total',
      help: 'Analytics events appended to the event outbox, by type.',
      labelNames: ['type'],
      registers,
    });
    this.analyticsFrameSeconds = new Histogram({
      name: 'edge_analytics_frame_seconds',
      help: 'Tracking and analytics time per frame (main thread).',
      buckets: [0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01],
      registers,
    });
    const outboxLength = opts.eventOutboxLength;
    this.eventOutboxLength = new Gauge({
      name: 'edge_event_outbox_length',
      help: 'Analytics events kept in the event outbox (read from Redis at scrape time).',
      registers,
      async collect() {
        if (!outboxLength) return;
        try {
          this.set(await outboxLength());
        } catch {
          // Redis unreachable: keep the last value.
        }
      },
    });
    // Uploaded and dropped totals live in Redis (updated with the outbox itself, in one
    // transaction), so they are read at scrape time: a restarted node reports the same totals.
    const totals = opts.eventOutboxTotals;
    const mirror = async (
      counter: Counter<string>,
      pick: (t: {
        uploaded: number;
        trimmed: number;
        rejected: number;
      }) => Array<[Record<string, string>, number]>,
    ) => {
      if (!totals) return;
      try {
        const t = await totals();
        counter.reset();
        for (const [labels, v] of pick(t)) counter.inc(labels, v);
      } catch {
        // Redis unreachable: keep the last values.
      }
    };
    this.eventsUploaded = new Counter({
      name: 'edge_events_uploaded_total',
      help: 'Analytics events the hub acknowledged (accepted or duplicate) and removed from the outbox.',
      registers,
      async collect() {
        await mirror(this, (t) => [[{}, t.uploaded]]);
      },
    });
    this.eventUploadFailures = new Counter({
      name: 'edge_event_upload_failures_total',
      help: 'Upload tries that failed, by reason (unreachable, timeout, http_<status>, bad_ack).',
      labelNames: ['reason'],
      registers,
    });
    this.snapshotUploads = new Counter({
      name: 'edge_camera_snapshots_total',
      help: 'Camera snapshots sent to the hub, by result: uploaded, or why not (unreachable, timeout, http_<status>, no_frame, error).',
      labelNames: ['result'],
      registers,
    });
    this.snapshotSeconds = new Histogram({
      name: 'edge_camera_snapshot_seconds',
      help: 'Time to make one snapshot (downscale, blur, encode), off the frame path.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.eventsDropped = new Counter({
      name: 'edge_events_dropped_total',
      help:
        'Analytics events that left the outbox without reaching the hub: trimmed by age or the outbox cap ' +
        'before upload (trimmed), or refused by the hub as unreadable (rejected).',
      labelNames: ['reason'],
      registers,
      async collect() {
        await mirror(this, (t) => [
          [{ reason: 'trimmed' }, t.trimmed],
          [{ reason: 'rejected' }, t.rejected],
        ]);
      },
    });
  }
}
