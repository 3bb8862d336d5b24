import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** The hub's Prometheus metrics, in a registry of its own (several hubs can share a process in tests). */
export class HubMetrics {
  readonly registry: Registry;
  readonly httpRequestSeconds: Histogram<'method' | 'route' | 'status_code'>;
  readonly publishes: Counter<'result'>;
  readonly publishedBytes: Counter;
  readonly validationSeconds: Histogram<'result'>;
  readonly uploadSeconds: Histogram;
  readonly blobBytesServed: Counter;
  readonly eventsIngested: Counter<'result'>;
  readonly eventBatchSeconds: Histogram;
  readonly snapshotsReceived: Counter<'result'>;

  constructor() {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'hub_' });
    this.registry = registry;
    const registers = [registry];
    this.httpRequestSeconds = new Histogram({
      name: 'hub_http_request_duration_seconds',
      help: 'HTTP request duration by route.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.publishes = new Counter({
      name: 'hub_model_publishes_total',
      help: 'Publish requests by result: created, unchanged (same version, same bytes) or the error code.',
      labelNames: ['result'],
      registers,
    });
    this.publishedBytes = new Counter({
      name: 'hub_model_published_bytes_total',
      help: 'Bytes of model files received by publishes (accepted or not).',
      registers,
    });
    this.uploadSeconds = new Histogram({
      name: 'hub_model_upload_seconds',
      help: "Time from a publish's first file byte to the file hashed, written and fsynced in staging (the upload's own rate: bytes / this).",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers,
    });
    this.validationSeconds = new Histogram({
      name: 'hub_model_validation_seconds',
      help: 'Time to validate a published model (parse, onnxruntime load, graph check), by result.',
      labelNames: ['result'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers,
    });
    this.blobBytesServed = new Counter({
      name: 'hub_blob_bytes_served_total',
      help: 'Blob bytes sent to clients (full and ranged downloads).',
      registers,
    });
    this.eventsIngested = new Counter({
      name: 'hub_events_ingested_total',
      help: 'Store events received from edges, by result: accepted (new), duplicate (sent before), rejected.',
      labelNames: ['result'],
      registers,
    });
    this.snapshotsReceived = new Counter({
      name: 'hub_camera_snapshots_total',
      help: 'Camera snapshots uploaded by edges, by result: stored, stale (a newer one was there) or the error code.',
      labelNames: ['result'],
      registers,
    });
    this.eventBatchSeconds = new Histogram({
      name: 'hub_event_batch_seconds',
      help: 'Time to store one event batch with its rollups.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
  }
}
