/**
 * `storevision bench outage`: the fault tests' cloud outage (test/platform-faults.int.test.ts),
 * for a simulated hour. Too long for `npm test`, so it is a soak run by hand.
 *
 * The platform is the tests' own (`FaultPlatform`: hub and orchestrator in this process on their
 * own ports, two `storevision edge` child processes of one store, each with the redis-server it
 * starts itself, AOF on). An entrance and a checkout sequence of `minutes` simulated minutes are
 * each rendered once, frame by frame (never the whole sequence in memory), and played closed loop
 * (the next frame once the camera's analytics took the previous one) twice, with the same capture
 * times:
 *
 * 1. as `entrance-ref` / `checkout-ref`, with hub and orchestrator up throughout: the uninterrupted
 *    run. Each rendered frame is also appended to a spool file (`frame-spool.ts`);
 * 2. from the spool as `entrance-cut` / `checkout-cut`: `(minutes − outageMinutes) / 2` simulated
 *    minutes with the cloud up, then hub and orchestrator stopped for `outageMinutes` simulated
 *    minutes while the store keeps detecting and counting on its last plan (every frame analysed,
 *    none dropped; every event kept in the edges' outboxes), then both started again at the same
 *    addresses for the rest.
 *
 * The uninterrupted run is played first, whole, rather than beside the cut one: while the hub is
 * down it cannot take anyone's events, so a reference streamed at the same time would go through
 * the same outage and its backlog upload (oldest first with a share of live events, so out of
 * order) — and the comparison would no longer say that an outage changes nothing.
 *
 * Then the checks (each ✔/✘; any ✘ and the command exits non-zero): the cloud was unreachable all
 * through the outage; every frame of every camera was analysed, none dropped or failed; every event
 * made during the outage waited in the outboxes, none trimmed; the hub holds each event of the run
 * exactly once; the cut cameras' events have the reference's contents (ids, camera, frame, node
 * and config version aside: `eventContent`, as the test compares them), and the hub's metric
 * series for them (`COMPARED_METRICS`, per minute and per hour) equal the reference's over the
 * whole window; both nodes are back `ready` in the orchestrator on the plan they had before.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import type { MetricPoint, SceneName } from '@storevision/contracts';
import { type RenderedFrame, SequenceRenderer } from '@storevision/scenes';
import { Redis } from 'ioredis';
import type { EdgeProcess } from './edge-process.ts';
import {
  compareMetricSeries,
  eventContent,
  FaultPlatform,
  HEARTBEAT_TIMEOUT_MS,
  metricSum,
  outboxEvents,
  pushAnalysed,
  reachable,
  redisInfo,
  redisPrefixOf,
  type SeriesDifference,
  waitDrained,
} from './fault-platform.ts';
import { FrameSpoolWriter, readFrameSpool, type SpooledFrame } from './frame-spool.ts';
import { json, sleep } from './poll.ts';

export interface OutageBenchOptions {
  /** Simulated minutes of each sequence. @defaultValue 70 */
  minutes: number;
  /** Simulated minutes of the outage, in the middle of the sequence. @defaultValue 60 */
  outageMinutes: number;
  fps: number;
  width: number;
  height: number;
  entranceSeed: number;
  checkoutSeed: number;
  /** Where the frame spools go (about 1 GB per scene-hour at 640×480). @defaultValue os.tmpdir() */
  spoolDir?: string;
  /** Progress lines this often. @defaultValue 30 s */
  progressEveryMs?: number;
  onProgress?: (msg: string) => void;
}

export interface OutageCheck {
  name: string;
  ok: boolean;
  detail: string;
}

interface PhaseFigures {
  /** Frames analysed, all cameras of the phase. */
  frames: number;
  wallSeconds: number;
  framesPerSecond: number;
  /** Events the phase's cameras made (`edge_analytics_events_total`). */
  eventsMade: number;
}

/** Where a cut camera's series differs from the uninterrupted one's. */
export interface SeriesDetail {
  series: string;
  /** Points that differ: the total, the buckets, and each key's (zone's) buckets. */
  points: number;
  /** The fields that differ in any of them (`value`, `n`, `max`, `p50`, `p90`). */
  fields: string[];
  first: Array<{ key: string; cut: MetricPoint | undefined; ref: MetricPoint | undefined }>;
}

export interface OutageBenchResult {
  startedAt: string;
  endedAt: string;
  wallSeconds: number;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string };
  loadAverage: { start: number; end: number };
  options: Omit<OutageBenchOptions, 'onProgress' | 'spoolDir' | 'progressEveryMs'>;
  /** Capture times of the sequences: [from, to). */
  window: { from: string; to: string };
  /** camera → node, before the outage. */
  plan: Record<string, string>;
  framesPerCamera: number;
  /** The uninterrupted run, rendering included. */
  ref: PhaseFigures & { renderSeconds: number; spoolBytes: number };
  cut: PhaseFigures & {
    outage: {
      simulatedSeconds: number;
      wallSeconds: number;
      framesAnalysed: number;
      /** Analysed during the outage, both cameras, per second of streaming. */
      framesPerSecond: number;
      framesDropped: number;
      framesFailed: number;
      eventsMade: number;
      eventsWaitingAtReturn: number;
      /** Highest `edge_event_outbox_length` summed over the nodes, sampled every few seconds from the outage to the drain. */
      peakOutboxLength: number;
      /** Per node, at the return. */
      outboxLengthAtReturn: Record<string, number>;
      redisUsedMemoryAtReturnBytes: Record<string, number>;
      /** Per node, at the return: `MEMORY USAGE` of the event outbox stream (exact, `SAMPLES 0`). */
      outboxBytesAtReturn: Record<string, number>;
      /** Highest `used_memory` of either node's Redis, sampled from the outage to the drain. */
      redisUsedMemoryPeakBytes: number;
      /** Probes of hub and orchestrator during the outage, and how many got an answer. */
      probes: number;
      probesAnswered: number;
    };
    /** From the return until every event that waited at the return is in the hub. */
    catchUpSeconds: number;
    /** From the return until the outboxes held no event of the cut cameras (the rest streamed meanwhile). */
    drainedSeconds: number;
    /** Simulated time streamed after the return. */
    afterReturnSimulatedSeconds: number;
  };
  hub: {
    cutEvents: number;
    cutUniqueIds: number;
    refEvents: number;
    refUniqueIds: number;
    /** Cut events whose content is not among the reference's (and the reverse), as a count. */
    contentMismatches: number;
    seriesCompared: number;
    seriesDiffering: string[];
    /** For each differing series, its first differing buckets (the cut camera's and the reference's). */
    seriesDifferences: SeriesDetail[];
  };
  eventsTrimmed: number;
  eventsRejected: number;
  checks: OutageCheck[];
  ok: boolean;
}

const SCENES = [
  { scene: 'entrance', ref: 'entrance-ref', cut: 'entrance-cut' },
  { scene: 'checkout', ref: 'checkout-ref', cut: 'checkout-cut' },
] as const satisfies ReadonlyArray<{ scene: SceneName; ref: string; cut: string }>;

/** Ports freed a moment ago may still be held by a closing connection: retry the restart this long. */
const RESTART_TIMEOUT_MS = 60_000;

export async function runOutageBench(o: OutageBenchOptions): Promise<OutageBenchResult> {
  const progress = o.onProgress ?? (() => {});
  const everyMs = o.progressEveryMs ?? 30_000;
  if (!(o.outageMinutes > 0 && o.outageMinutes < o.minutes))
    throw new Error(
      `the outage (${o.outageMinutes} min) must be shorter than the sequence (${o.minutes} min)`,
    );
  const startedAt = new Date();
  const began = performance.now();
  const loadStart = os.loadavg()[0]!;
  const framesPerCamera = Math.round(o.minutes * 60 * o.fps);
  const outageFrames = Math.round(o.outageMinutes * 60 * o.fps);
  const preFrames = Math.floor((framesPerCamera - outageFrames) / 2);
  const postFrames = framesPerCamera - preFrames - outageFrames;
  // A whole minute far enough back that the whole sequence lies in the past however long the run
  // takes (the hub keeps raw events and minute rollups 30 days by default: nothing is pruned).
  const from = Math.floor(Date.now() / 60_000) * 60_000 - (o.minutes + 120) * 60_000;
  const to = from + o.minutes * 60_000;

  const platform = new FaultPlatform();
  const spoolDir = await mkdtemp(path.join(o.spoolDir ?? os.tmpdir(), 'sv-outage-spool-'));
  // A stopped benchmark must not leave edges (and the redis-servers they started) behind.
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`${signal}: stopping the edges`);
    void platform
      .stop()
      .catch(() => {})
      .finally(() => rm(spoolDir, { recursive: true, force: true }))
      .finally(() => process.exit(128 + (os.constants.signals[signal] ?? 15)));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let sampler: Sampler | undefined;
  try {
    progress(
      `starting the platform (hub, orchestrator, 2 edges); ${o.minutes} simulated min at ${o.fps} fps ` +
        `(${framesPerCamera} frames a camera), outage ${o.outageMinutes} min from minute ${(preFrames / o.fps / 60).toFixed(1)}`,
    );
    await platform.start();
    const renderers = SCENES.map(
      ({ scene }) =>
        new SequenceRenderer({
          scene,
          seed: scene === 'entrance' ? o.entranceSeed : o.checkoutSeed,
          frames: framesPerCamera,
          fps: o.fps,
          width: o.width,
          height: o.height,
          startEpochMs: from,
        }),
    );
    // All four cameras up front, so that the plan does not change while they stream.
    for (const [i, s] of SCENES.entries())
      for (const cameraId of [s.ref, s.cut])
        await platform.registerCamera(cameraId, {
          fps: o.fps,
          width: o.width,
          height: o.height,
          scene: renderers[i]!.describe(),
        });
    const owners = new Map<string, EdgeProcess>();
    for (const s of SCENES)
      for (const cameraId of [s.ref, s.cut]) owners.set(cameraId, await platform.analyticsOwner(cameraId));
    const owner = (cameraId: string) => owners.get(cameraId)!;
    const planBefore = await platform.owners();
    progress(`plan: ${[...planBefore].map(([c, n]) => `${c} → ${n}`).join(', ')}`);

    // 1. The uninterrupted run, rendering each frame once and spooling it for the second.
    const spools = SCENES.map((s) => path.join(spoolDir, `${s.scene}.frames`));
    const writers = await Promise.all(spools.map((p) => FrameSpoolWriter.create(p)));
    let renderMs = 0;
    const rendered = async function* (r: SequenceRenderer): AsyncGenerator<SpooledFrame> {
      for (let i = 0; i < framesPerCamera; i++) {
        const t = performance.now();
        const f: RenderedFrame = await r.frame(i);
        renderMs += performance.now() - t;
        yield { captureTime: from + Math.round(f.truth.t), jpeg: f.jpeg };
      }
    };
    const refMade0 = await platform.eventsMade();
    const ref = await streamPhase({
      label: 'uninterrupted run',
      cameras: SCENES.map((s, i) => ({
        cameraId: s.ref,
        edge: owner(s.ref),
        frames: rendered(renderers[i]!),
        spool: writers[i]!,
      })),
      count: framesPerCamera,
      framesPerCamera,
      fps: o.fps,
      everyMs,
      progress,
    });
    await Promise.all(writers.map((w) => w.close()));
    for (const s of SCENES) await waitDrained(owner(s.ref).url, s.ref, 300_000);
    const refFigures = {
      frames: 2 * framesPerCamera,
      wallSeconds: ref.seconds,
      framesPerSecond: (2 * framesPerCamera) / ref.seconds,
      eventsMade: (await platform.eventsMade()) - refMade0,
      renderSeconds: renderMs / 1000,
      spoolBytes: writers.reduce((a, w) => a + w.bytes, 0),
    };

    // 2. The same frames through the outage.
    const readers = spools.map((p) => readFrameSpool(p));
    const cutCameras = SCENES.map((s, i) => ({ cameraId: s.cut, edge: owner(s.cut), frames: readers[i]! }));
    const cutMade0 = await platform.eventsMade();
    const cutBegan = performance.now();
    const play = (label: string, count: number, done: number, onTick?: () => Promise<void>) =>
      streamPhase({
        label,
        cameras: cutCameras,
        count,
        done,
        framesPerCamera,
        fps: o.fps,
        everyMs,
        progress,
        ...(onTick ? { onTick } : {}),
      });
    await play('through the outage, cloud up', preFrames, 0);
    for (const s of SCENES) await waitDrained(owner(s.cut).url, s.cut, 300_000);
    const statsBefore = await cameraStats(cutCameras);

    // The cloud goes away.
    const hubUrl = platform.hubUrl;
    const orchestratorUrl = platform.orchestratorUrl;
    await Promise.all([platform.stopHub(), platform.stopOrchestrator()]);
    const downAt = performance.now();
    progress(`hub and orchestrator stopped at simulated minute ${(preFrames / o.fps / 60).toFixed(1)}`);
    const probes = { sent: 0, answered: 0 };
    const probeCloud = async () => {
      for (const url of [hubUrl, orchestratorUrl]) {
        probes.sent++;
        if (await reachable(url)) probes.answered++;
      }
    };
    await probeCloud();
    sampler = new Sampler(platform, 5000);
    const madeBeforeOutage = await platform.eventsMade();
    const outage = await play('through the outage, cloud DOWN', outageFrames, preFrames, probeCloud);
    await probeCloud();
    const madeDuringOutage = (await platform.eventsMade()) - madeBeforeOutage;
    const statsAfter = await cameraStats(cutCameras);
    const waiting = new Set<string>();
    for (const c of cutCameras) for (const e of await outboxEvents(c.edge.url, c.cameraId)) waiting.add(e.id);
    const outboxAtReturn: Record<string, number> = {};
    const redisAtReturn: Record<string, number> = {};
    const outboxBytesAtReturn: Record<string, number> = {};
    for (const [nodeId, e] of platform.edges) {
      outboxBytesAtReturn[nodeId] = await redisKeyBytes(
        e.embeddedRedisUrl!,
        `${redisPrefixOf(nodeId)}:events`,
      );
      outboxAtReturn[nodeId] = metricSum(
        await (await fetch(`${e.url}/metrics`)).text(),
        'edge_event_outbox_length',
      );
      redisAtReturn[nodeId] = Number((await redisInfo(e.embeddedRedisUrl!)).used_memory);
    }
    await sampler.sampleNow();

    // The cloud returns, at the same addresses; the cameras go on streaming.
    await restart('the hub', () => platform.startHub());
    await restart('the orchestrator', () => platform.startOrchestrator());
    const downS = (performance.now() - downAt) / 1000;
    const backAt = performance.now();
    progress(`hub and orchestrator back after ${downS.toFixed(0)} s; ${waiting.size} events waiting`);
    const catchUp = { stopped: false };
    const caughtUp = waitCaughtUp(cutCameras, waiting, catchUp).then(
      () => (performance.now() - backAt) / 1000,
    );
    caughtUp.catch(() => {}); // awaited below; a run that fails before then reports its own error
    let drainedS: number;
    try {
      await play('through the outage, cloud back', postFrames, preFrames + outageFrames);
      await Promise.all(readers.map((r) => r.return(undefined))); // closes the spool files
      for (const s of SCENES) await waitDrained(owner(s.cut).url, s.cut, 600_000);
      drainedS = (performance.now() - backAt) / 1000;
    } finally {
      catchUp.stopped = true;
    }
    // Drained implies caught up: the watcher has seen it or sees it on its next look.
    const catchUpS = await caughtUp;
    await sampler.stop();
    const cutSeconds = (performance.now() - cutBegan) / 1000;
    const cutFigures = {
      frames: 2 * framesPerCamera,
      wallSeconds: cutSeconds,
      framesPerSecond: (2 * framesPerCamera) / cutSeconds,
      eventsMade: (await platform.eventsMade()) - cutMade0,
    };

    // The checks.
    const checks: OutageCheck[] = [];
    const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
    check(
      'hub and orchestrator unreachable all through the outage',
      probes.answered === 0,
      `${probes.sent} probes of /healthz, ${probes.answered} answered`,
    );
    const during = diffStats(statsBefore, statsAfter);
    check(
      'the store went on analysing during the outage: every frame taken and analysed, none dropped or failed',
      during.received === 2 * outageFrames &&
        during.processed === 2 * outageFrames &&
        during.dropped === 0 &&
        during.failed === 0,
      `received ${during.received}, processed ${during.processed}, dropped ${during.dropped}, failed ${during.failed} of ${2 * outageFrames}`,
    );
    check(
      'every event made during the outage waited in the outboxes',
      madeDuringOutage > 0 && waiting.size === madeDuringOutage,
      `${madeDuringOutage} made, ${waiting.size} waiting at the return`,
    );
    let trimmed = 0;
    let rejected = 0;
    for (const e of platform.edges.values()) {
      const text = await (await fetch(`${e.url}/metrics`)).text();
      trimmed += metricSum(text, 'edge_events_dropped_total', 'reason="trimmed"');
      rejected += metricSum(text, 'edge_events_dropped_total', 'reason="rejected"');
    }
    check(
      'no event trimmed from an outbox or rejected by the hub',
      trimmed === 0 && rejected === 0,
      `edge_events_dropped_total: trimmed ${trimmed}, rejected ${rejected}`,
    );
    const all = await cameraStats(
      SCENES.flatMap((s) => [s.ref, s.cut]).map((c) => ({ cameraId: c, edge: owner(c) })),
    );
    const bad = [...all].filter(
      ([, s]) =>
        s.received !== framesPerCamera ||
        s.processed !== framesPerCamera ||
        s.dropped !== 0 ||
        s.failed !== 0,
    );
    check(
      'every frame of every camera analysed, none dropped or failed',
      bad.length === 0,
      bad.length === 0
        ? `4 cameras × ${framesPerCamera} frames`
        : bad.map(([c, s]) => `${c}: ${JSON.stringify(s)}`).join('; '),
    );
    const stored = {
      cut: [...(await platform.storedEvents(SCENES[0].cut)), ...(await platform.storedEvents(SCENES[1].cut))],
      ref: [...(await platform.storedEvents(SCENES[0].ref)), ...(await platform.storedEvents(SCENES[1].ref))],
    };
    const unique = {
      cut: new Set(stored.cut.map((e) => e.id)).size,
      ref: new Set(stored.ref.map((e) => e.id)).size,
    };
    check(
      'the hub holds every event of the cut cameras exactly once',
      stored.cut.length === cutFigures.eventsMade && unique.cut === stored.cut.length,
      `${cutFigures.eventsMade} made, ${stored.cut.length} in the hub, ${unique.cut} distinct ids`,
    );
    check(
      'the hub holds every event of the uninterrupted cameras exactly once',
      stored.ref.length === refFigures.eventsMade && unique.ref === stored.ref.length,
      `${refFigures.eventsMade} made, ${stored.ref.length} in the hub, ${unique.ref} distinct ids`,
    );
    const contentMismatches = multisetDifference(stored.cut.map(eventContent), stored.ref.map(eventContent));
    check(
      "the cut cameras' events have the uninterrupted run's contents",
      contentMismatches === 0 && stored.cut.length > 0,
      `${stored.cut.length} against ${stored.ref.length}; ${contentMismatches} without a match`,
    );
    const series = await compareMetricSeries(
      platform,
      SCENES.map((s) => [s.cut, s.ref] as const),
      { from, to, buckets: ['1m', '1h'] },
    );
    check(
      "the hub's metric series of the cut cameras equal the uninterrupted ones",
      series.differing.length === 0,
      `${series.compared.length} series (${series.compared.length / 2} per minute, the same per hour) over ${o.minutes} min` +
        (series.differing.length ? `; differing: ${series.differing.map((d) => d.series).join(', ')}` : ''),
    );
    let readyErr: string | undefined;
    await platform.waitNodesReady(HEARTBEAT_TIMEOUT_MS + 10_000).catch((err: Error) => {
      readyErr = err.message;
    });
    const planAfter = await platform.owners();
    check(
      'both nodes back ready in the orchestrator, on the same plan',
      readyErr === undefined && isDeepStrictEqual(planAfter, planBefore),
      readyErr ??
        `plan ${isDeepStrictEqual(planAfter, planBefore) ? 'unchanged' : `now ${JSON.stringify([...planAfter])}`}`,
    );

    const endedAt = new Date();
    return {
      startedAt: startedAt.toISOString(),
      endedAt: endedAt.toISOString(),
      wallSeconds: (performance.now() - began) / 1000,
      machine: {
        cpus: os.availableParallelism(),
        cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
        memoryGb: Math.round(os.totalmem() / 1024 ** 3),
        node: process.version,
      },
      loadAverage: { start: loadStart, end: os.loadavg()[0]! },
      options: {
        minutes: o.minutes,
        outageMinutes: o.outageMinutes,
        fps: o.fps,
        width: o.width,
        height: o.height,
        entranceSeed: o.entranceSeed,
        checkoutSeed: o.checkoutSeed,
      },
      window: { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
      plan: Object.fromEntries(planBefore),
      framesPerCamera,
      ref: refFigures,
      cut: {
        ...cutFigures,
        outage: {
          simulatedSeconds: outageFrames / o.fps,
          wallSeconds: downS,
          framesAnalysed: during.processed,
          framesPerSecond: during.processed / outage.seconds,
          framesDropped: during.dropped,
          framesFailed: during.failed,
          eventsMade: madeDuringOutage,
          eventsWaitingAtReturn: waiting.size,
          peakOutboxLength: sampler.peakOutbox,
          outboxLengthAtReturn: outboxAtReturn,
          redisUsedMemoryAtReturnBytes: redisAtReturn,
          outboxBytesAtReturn,
          redisUsedMemoryPeakBytes: sampler.peakRedis,
          probes: probes.sent,
          probesAnswered: probes.answered,
        },
        catchUpSeconds: catchUpS,
        drainedSeconds: drainedS,
        afterReturnSimulatedSeconds: postFrames / o.fps,
      },
      hub: {
        cutEvents: stored.cut.length,
        cutUniqueIds: unique.cut,
        refEvents: stored.ref.length,
        refUniqueIds: unique.ref,
        contentMismatches,
        seriesCompared: series.compared.length,
        seriesDiffering: series.differing.map((d) => d.series),
        seriesDifferences: series.differing.map((d) => differingBuckets(d, 5)),
      },
      eventsTrimmed: trimmed,
      eventsRejected: rejected,
      checks,
      ok: checks.every((c) => c.ok),
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await sampler?.stop();
    await platform.stop().catch((err: Error) => progress(`stopping the platform: ${err.message}`));
    await rm(spoolDir, { recursive: true, force: true });
  }
}

interface StreamCamera {
  cameraId: string;
  edge: EdgeProcess;
  frames: AsyncIterator<SpooledFrame>;
  /** Also appends every frame here. */
  spool?: FrameSpoolWriter;
}

/**
 * Plays the next `count` frames of every camera at once, each closed loop (the camera's next frame
 * is fetched while its previous one is analysed), with a progress line every `everyMs` (and
 * `onTick`, e.g. the outage's reachability probes, run as often).
 */
async function streamPhase(p: {
  label: string;
  cameras: StreamCamera[];
  count: number;
  /** Frames of each camera played before this phase (for the simulated time in progress lines). */
  done?: number;
  framesPerCamera: number;
  fps: number;
  everyMs: number;
  progress: (msg: string) => void;
  onTick?: () => Promise<void>;
}): Promise<{ seconds: number }> {
  const t0 = performance.now();
  let played = 0;
  const line = () => {
    const minDone = ((p.done ?? 0) + played / p.cameras.length) / p.fps / 60;
    const s = (performance.now() - t0) / 1000;
    return (
      `${p.label}: simulated ${minDone.toFixed(1)}/${(p.framesPerCamera / p.fps / 60).toFixed(1)} min, ` +
      `${played} frames in ${s.toFixed(0)} s, ${(played / Math.max(s, 1e-3)).toFixed(1)} frames/s`
    );
  };
  let running = true;
  const ticker = (async () => {
    while (running) {
      await sleepUnless(p.everyMs, () => !running);
      if (!running) return;
      await p.onTick?.();
      p.progress(line());
    }
  })();
  try {
    await Promise.all(
      p.cameras.map(async (c) => {
        let next = c.frames.next();
        for (let i = 0; i < p.count; i++) {
          const r = await next;
          if (r.done) throw new Error(`${c.cameraId}: the sequence ended after ${i} of ${p.count} frames`);
          // Fetched (rendered, or read from the spool) while this one is analysed.
          next = i + 1 < p.count ? c.frames.next() : next;
          await c.spool?.append(r.value);
          await pushAnalysed(
            c.edge,
            c.cameraId,
            r.value.jpeg,
            r.value.captureTime,
            `frame ${(p.done ?? 0) + i}`,
          );
          played++;
        }
      }),
    );
  } finally {
    running = false;
    await ticker;
  }
  p.progress(line());
  return { seconds: (performance.now() - t0) / 1000 };
}

/** Sleeps `ms`, waking early (within 250 ms) once `stop()` says so. */
async function sleepUnless(ms: number, stop: () => boolean): Promise<void> {
  const end = performance.now() + ms;
  while (!stop() && performance.now() < end) await sleep(Math.min(250, end - performance.now()));
}

type Stats = { received: number; processed: number; dropped: number; failed: number };

async function cameraStats(
  cameras: Array<{ cameraId: string; edge: EdgeProcess }>,
): Promise<Map<string, Stats>> {
  const out = new Map<string, Stats>();
  for (const c of cameras) {
    const r = await json(`${c.edge.url}/v1/cameras/${c.cameraId}/stats`);
    if (r.status !== 200) throw new Error(`stats of ${c.cameraId}: ${r.status} ${JSON.stringify(r.body)}`);
    const { received, processed, dropped, failed } = r.body as Stats;
    out.set(c.cameraId, { received, processed, dropped, failed });
  }
  return out;
}

/** Summed over the cameras: what happened between two `cameraStats` readings. */
function diffStats(a: Map<string, Stats>, b: Map<string, Stats>): Stats {
  const d = { received: 0, processed: 0, dropped: 0, failed: 0 };
  for (const [c, s] of b)
    for (const k of Object.keys(d) as Array<keyof Stats>) d[k] += s[k] - (a.get(c)?.[k] ?? 0);
  return d;
}

/**
 * Where the two sides of a series differ: how many of its points (the total, each bucket, each
 * key's buckets), in which fields, and the first `max` of them (`total`, `<t>` or `<key> <t>`).
 */
function differingBuckets(d: SeriesDifference, max: number): SeriesDetail {
  const out: SeriesDetail = { series: d.series, points: 0, fields: [], first: [] };
  const fields = new Set<string>();
  const add = (key: string, cut: MetricPoint | undefined, ref: MetricPoint | undefined) => {
    if (isDeepStrictEqual(cut, ref)) return;
    out.points++;
    for (const f of new Set([...Object.keys(cut ?? {}), ...Object.keys(ref ?? {})]))
      if (!isDeepStrictEqual(cut?.[f as keyof MetricPoint], ref?.[f as keyof MetricPoint])) fields.add(f);
    if (out.first.length < max) out.first.push({ key, cut, ref });
  };
  add('total', d.a.total, d.b.total);
  const points = (prefix: string, a: MetricPoint[] = [], b: MetricPoint[] = []) => {
    for (let i = 0; i < Math.max(a.length, b.length); i++) add(`${prefix}${a[i]?.t ?? b[i]?.t}`, a[i], b[i]);
  };
  points('', d.a.points, d.b.points);
  for (const key of new Set([...Object.keys(d.a.byKey), ...Object.keys(d.b.byKey)]))
    points(`${key} `, d.a.byKey[key], d.b.byKey[key]);
  out.fields = [...fields].sort();
  return out;
}

/** How many items of `a` and of `b` have no counterpart in the other (as multisets). */
function multisetDifference(a: string[], b: string[]): number {
  const counts = new Map<string, number>();
  for (const x of a) counts.set(x, (counts.get(x) ?? 0) + 1);
  for (const x of b) counts.set(x, (counts.get(x) ?? 0) - 1);
  let n = 0;
  for (const v of counts.values()) n += Math.abs(v);
  return n;
}

/**
 * Resolves once no event of `waiting` is left in the cameras' outboxes. The outbox is a stream
 * read oldest first and the events waiting at the return are its oldest, so it is enough that the
 * oldest event of each camera is not one of them; an event leaves the outbox only once the hub
 * acknowledged it (none is trimmed: a check says so).
 */
async function waitCaughtUp(
  cameras: Array<{ cameraId: string; edge: EdgeProcess }>,
  waiting: Set<string>,
  cancel: { stopped: boolean },
): Promise<void> {
  for (;;) {
    let left = false;
    for (const c of cameras) {
      const r = await json(`${c.edge.url}/v1/events?camera=${c.cameraId}&limit=1`).catch(() => undefined);
      const first = (r?.body?.events as Array<{ event: { id: string } }> | undefined)?.[0];
      if (r?.status !== 200 || (first && waiting.has(first.event.id))) left = true;
    }
    if (!left) return;
    // Given up only after the last look (the caller stops it once the outboxes are drained).
    if (cancel.stopped) throw new Error('the backlog was not uploaded');
    await sleep(250);
  }
}

/** Bytes Redis holds for one key (`MEMORY USAGE key SAMPLES 0`: every element counted); 0 when absent. */
async function redisKeyBytes(url: string, key: string): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    return Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
  } finally {
    redis.disconnect();
  }
}

/** `start` again, retrying while its port is still held by a connection of the stopped server. */
async function restart(what: string, start: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + RESTART_TIMEOUT_MS;
  for (;;) {
    try {
      return await start();
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRINUSE' || Date.now() > deadline)
        throw new Error(`starting ${what} again: ${(err as Error).message}`);
      await sleep(1000);
    }
  }
}

/** Samples the event outboxes' length and the edges' Redis memory every `everyMs`, keeping the peaks. */
class Sampler {
  peakOutbox = 0;
  peakRedis = 0;
  readonly #platform: FaultPlatform;
  #running = true;
  readonly #loop: Promise<void>;

  constructor(platform: FaultPlatform, everyMs: number) {
    this.#platform = platform;
    this.#loop = (async () => {
      while (this.#running) {
        await this.sampleNow().catch(() => {});
        await sleepUnless(everyMs, () => !this.#running);
      }
    })();
  }

  async sampleNow(): Promise<void> {
    let outbox = 0;
    for (const e of this.#platform.edges.values()) {
      outbox += metricSum(await (await fetch(`${e.url}/metrics`)).text(), 'edge_event_outbox_length');
      const used = Number((await redisInfo(e.embeddedRedisUrl!)).used_memory);
      this.peakRedis = Math.max(this.peakRedis, used);
    }
    this.peakOutbox = Math.max(this.peakOutbox, outbox);
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

export function formatOutageBench(r: OutageBenchResult): string {
  const o = r.cut.outage;
  const MB = 1024 * 1024;
  const min = (s: number) => `${(s / 60).toFixed(1)} min`;
  const perNode = (x: Record<string, number>, f: (v: number) => string) =>
    Object.entries(x)
      .map(([n, v]) => `${n} ${f(v)}`)
      .join(', ');
  const rows: Array<[string, string]> = [
    ['started / ended', `${r.startedAt} / ${r.endedAt}`],
    ['wall time', `${r.wallSeconds.toFixed(0)} s (${min(r.wallSeconds)})`],
    [
      'machine',
      `${r.machine.cpus} vCPU ${r.machine.cpuModel}, ${r.machine.memoryGb} GB, node ${r.machine.node}; load average ${r.loadAverage.start.toFixed(2)} at the start, ${r.loadAverage.end.toFixed(2)} at the end`,
    ],
    [
      'sequences',
      `entrance seed ${r.options.entranceSeed}, checkout seed ${r.options.checkoutSeed}; ${r.options.minutes} simulated min at ${r.options.fps} fps, ${r.options.width}×${r.options.height} (${r.framesPerCamera} frames a camera); capture times ${r.window.from} … ${r.window.to}`,
    ],
    [
      'plan',
      Object.entries(r.plan)
        .map(([c, n]) => `${c} → ${n}`)
        .join(', '),
    ],
    [
      'uninterrupted run (rendering included)',
      `${r.ref.frames} frames in ${r.ref.wallSeconds.toFixed(0)} s, ${r.ref.framesPerSecond.toFixed(1)} frames/s; rendering ${r.ref.renderSeconds.toFixed(0)} s; ${r.ref.eventsMade} events`,
    ],
    [
      'run through the outage',
      `${r.cut.frames} frames in ${r.cut.wallSeconds.toFixed(0)} s, ${r.cut.framesPerSecond.toFixed(1)} frames/s; ${r.cut.eventsMade} events`,
    ],
    [
      'hub and orchestrator down',
      `${o.wallSeconds.toFixed(0)} s of wall time, ${o.simulatedSeconds.toFixed(0)} s (${min(o.simulatedSeconds)}) simulated`,
    ],
    [
      'frames analysed during the outage',
      `${o.framesAnalysed}, ${o.framesPerSecond.toFixed(1)} frames/s (${o.framesDropped} dropped, ${o.framesFailed} failed)`,
    ],
    ['events made during the outage', `${o.eventsMade}`],
    ['events waiting at the return', `${o.eventsWaitingAtReturn}`],
    ['event outbox length at the return', perNode(o.outboxLengthAtReturn, String)],
    ['peak event outbox length (both nodes)', `${o.peakOutboxLength}`],
    [
      'Redis used_memory at the return',
      perNode(o.redisUsedMemoryAtReturnBytes, (v) => `${(v / MB).toFixed(1)} MB`),
    ],
    [
      'event outbox in Redis at the return',
      Object.entries(o.outboxBytesAtReturn)
        .map(([n, v]) => {
          const events = o.outboxLengthAtReturn[n] ?? 0;
          return `${n} ${(v / MB).toFixed(1)} MB${events > 0 ? ` (${Math.round(v / events)} B an event)` : ''}`;
        })
        .join(', '),
    ],
    ['Redis used_memory peak (either node)', `${(o.redisUsedMemoryPeakBytes / MB).toFixed(1)} MB`],
    [
      'catch-up after the return',
      `${r.cut.catchUpSeconds.toFixed(1)} s until every waiting event was in the hub`,
    ],
    [
      'outboxes drained',
      `${r.cut.drainedSeconds.toFixed(1)} s after the return, while the last ${min(r.cut.afterReturnSimulatedSeconds)} of simulated time streamed`,
    ],
    [
      'events in the hub',
      `cut cameras ${r.hub.cutEvents} (${r.hub.cutUniqueIds} distinct ids), uninterrupted ${r.hub.refEvents} (${r.hub.refUniqueIds})`,
    ],
    ['metric series compared', `${r.hub.seriesCompared}, ${r.hub.seriesDiffering.length} differing`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    'storevision bench outage — hub and orchestrator stopped while the store streams',
    '',
    ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`),
    '',
    ...r.checks.map((c) => `${c.ok ? '✔' : '✘'} ${c.name}: ${c.detail}`),
    ...r.hub.seriesDifferences.flatMap((d) => [
      `    ${d.series}: ${d.points} points differ (total, buckets and per-key buckets), in ${d.fields.join(', ')}; first:`,
      ...d.first
        .slice(0, 2)
        .map((x) => `      ${x.key}: cut ${JSON.stringify(x.cut)} / uninterrupted ${JSON.stringify(x.ref)}`),
    ]),
    '',
    r.ok ? 'all checks passed' : `${r.checks.filter((c) => !c.ok).length} check(s) failed`,
  ].join('\n');
}
