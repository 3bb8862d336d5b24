import { createHash } from 'node:crypto';
import {
  type AlertRule,
  type AnalyticsConfig,
  type AnalyticsEvent,
  type AnalyticsLine,
  type AnalyticsZone,
  type Box,
  type CameraAnalyticsState,
  type Detection,
  orient,
  type Point,
  pointInPolygon,
  segmentsTouch,
} from '@storevision/contracts';
import { ByteTracker, type Track } from './tracker.ts';

/** One analysed frame: what the edge's frame result carries for the tracked model. */
export interface AnalyticsFrame {
  frameId: string;
  /** Epoch ms. */
  captureTime: number;
  width: number;
  height: number;
  detections: readonly Detection[];
}

export interface CameraAnalyticsOptions {
  cameraId: string;
  storeId: string;
  nodeId: string;
  config: AnalyticsConfig;
  configVersion: number;
  /** IANA time zone that decides the store-local day the line counts belong to. @defaultValue 'UTC' */
  timezone?: string;
  /** Counts restored from storage for `restored.day` (after a restart). */
  restored?: { day: string | null; lines: Record<string, { in: number; out: number }>; nextTrackId?: number };
}

/** A person's standing with one zone (hysteresis: `run` frames on the other side flip it). */
interface ZoneMembership {
  inside: boolean;
  enteredAt: number;
  run: number;
  runStart: number;
  loitering: boolean;
}

/** A person's standing with one line. */
interface LineSide {
  side: 'in' | 'out';
  /** The last anchor seen on `side`. */
  point: Point;
  run: number;
  runStart: number;
  runPoint: Point;
}

interface PersonState {
  zones: Map<string, ZoneMembership>;
  lines: Map<string, LineSide>;
}

type EventBody = DistributiveOmit<
  AnalyticsEvent,
  'schemaVersion' | 'id' | 'storeId' | 'cameraId' | 'nodeId' | 'frameId' | 'configVersion' | 'time'
>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * A camera's analytics: tracks people with ByteTrack and turns their anchors' paths through the
 * camera's zones and lines into counts, state and events. Pure and deterministic: the same frames
 * give the same events with the same ids, so a replay after a crash produces duplicates the hub can
 * drop, never new facts. All times are the frames' capture times, never the wall clock.
 */
export class CameraAnalytics {
  readonly cameraId: string;
  #o: CameraAnalyticsOptions;
  #config: AnalyticsConfig;
  #version: number;
  #tracker: ByteTracker;
  #people = new Map<number, PersonState>();
  #tracks: Track[] = [];
  #day: string | null = null;
  #lineCounts: Record<string, { in: number; out: number }> = {};
  #dayFormat: Intl.DateTimeFormat;
  #occupancy: Record<string, number> = {};
  #reported = new Map<string, { count: number; at: number }>();
  #queueReported = new Map<string, { length: number; at: number }>();
  #departures = new Map<string, number[]>();
  #overSince = new Map<number, number>();
  #overRaised = new Set<number>();
  #firstTime: number | undefined;
  #lastFrame: { id: string; time: number } | undefined;
  #analysed = 0;
  #outOfOrder = 0;

  constructor(o: CameraAnalyticsOptions) {
    this.cameraId = o.cameraId;
    this.#o = o;
    this.#config = o.config;
    this.#version = o.configVersion;
    this.#tracker = new ByteTracker({ config: o.config.tracker });
    this.#dayFormat = new Intl.DateTimeFormat('en-CA', {
      timeZone: o.timezone ?? 'UTC',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    if (o.restored) {
      this.#day = o.restored.day;
      this.#lineCounts = structuredClone(o.restored.lines);
      if (o.restored.nextTrackId) this.#tracker.nextId = o.restored.nextTrackId;
    }
    for (const l of this.#config.lines) this.#lineCounts[l.id] ??= { in: 0, out: 0 };
  }

  get configVersion(): number {
    return this.#version;
  }

  get nextTrackId(): number {
    return this.#tracker.nextId;
  }

  /** The store-local day the line counts are for (null before the first frame). */
  get day(): string | null {
    return this.#day;
  }

  /** The store-local day (`YYYY-MM-DD`) of an epoch-ms time. */
  dayOf(time: number): string {
    return this.#dayFormat.format(new Date(time));
  }

  /**
   * A new config for the same camera. Counts of lines that still exist carry on; people keep their
   * tracks; their standing with a zone or line is kept where that zone or line is unchanged.
   */
  reconfigure(config: AnalyticsConfig, version: number): void {
    const same = <T extends { id: string }>(a: T[], b: T[]) => {
      const before = new Map(a.map((x) => [x.id, JSON.stringify(x)]));
      return new Set(b.filter((x) => before.get(x.id) === JSON.stringify(x)).map((x) => x.id));
    };
    const keepZones = same(this.#config.zones, config.zones);
    const keepLines = same(this.#config.lines, config.lines);
    if (JSON.stringify(config.tracker) !== JSON.stringify(this.#config.tracker)) {
      const next = this.#tracker.nextId;
      this.#tracker = new ByteTracker({ config: config.tracker });
      this.#tracker.nextId = next;
      this.#people.clear();
    }
    for (const p of this.#people.values()) {
      for (const id of p.zones.keys()) if (!keepZones.has(id)) p.zones.delete(id);
      for (const id of p.lines.keys()) if (!keepLines.has(id)) p.lines.delete(id);
    }
    const counts: Record<string, { in: number; out: number }> = {};
    for (const l of config.lines) counts[l.id] = this.#lineCounts[l.id] ?? { in: 0, out: 0 };
    this.#lineCounts = counts;
    this.#config = config;
    this.#version = version;
  }

  /**
   * Analyses one frame. Frames must come in capture order: an older frame than the last one is
   * skipped (counted in the state) — with several inference threads a late result can overtake.
   */
  process(frame: AnalyticsFrame): AnalyticsEvent[] {
    if (this.#lastFrame?.id === frame.frameId) return [];
    if (this.#lastFrame && frame.captureTime < this.#lastFrame.time) {
      this.#outOfOrder++;
      return [];
    }
    const time = frame.captureTime;
    this.#firstTime ??= time;
    this.#lastFrame = { id: frame.frameId, time };
    this.#analysed++;
    const events: AnalyticsEvent[] = [];
    const emit = (e: EventBody, at: number = time) => events.push(this.#event(e, frame.frameId, at));
    this.#rollDay(time);

    const labels = new Set(this.#config.labels);
    const inputs = frame.detections
      .filter((d) => labels.has(d.label))
      .map((d) => ({ box: d.box, score: d.score, label: d.label, appearance: d.appearance }));
    this.#tracks = this.#tracker.update(inputs, time, frame.width, frame.height);

    const dwellZones = this.#opZones('zone_dwell');
    const minDwellMs = (this.#op('zone_dwell')?.minDwellSeconds ?? 0) * 1000;
    const countedLines = this.#opLines();
    const loiterRules = this.#rules('loitering');

    const exitZone = (trackId: number, zone: AnalyticsZone, m: ZoneMembership, at: number) => {
      m.inside = false;
      const dwellMs = Math.max(0, at - m.enteredAt);
      if (dwellZones.has(zone.id) && dwellMs >= minDwellMs)
        emit({ type: 'zone_exit', zone: zone.id, trackId, dwellMs }, at);
      if (zone.id === this.#queueZone()) {
        const d = this.#departures.get(zone.id) ?? [];
        d.push(at);
        this.#departures.set(zone.id, d);
      }
      if (m.loitering) {
        m.loitering = false;
        const rule = loiterRules.find((r) => r.zone === zone.id);
        emit(
          {
            type: 'alert',
            alert: 'loitering',
            state: 'cleared',
            zone: zone.id,
            trackId,
            value: dwellMs / 1000,
            threshold: rule?.dwellSeconds ?? 0,
          },
          at,
        );
      }
    };

    for (const t of this.#tracks) {
      let p = this.#people.get(t.id);
      if (!p) {
        p = { zones: new Map(), lines: new Map() };
        this.#people.set(t.id, p);
      }
      if (!t.seen) continue; // a lost person's standing is frozen until they are seen again
      const anchor = this.#anchor(t, frame.width, frame.height);
      for (const zone of this.#config.zones) {
        const isIn = pointInPolygon(anchor[0], anchor[1], zone.polygon);
        let m = p.zones.get(zone.id);
        if (!m) {
          m = { inside: false, enteredAt: 0, run: 0, runStart: time, loitering: false };
          p.zones.set(zone.id, m);
        }
        if (isIn === m.inside) m.run = 0;
        else {
          if (m.run === 0) m.runStart = time;
          m.run++;
          if (m.run >= zone.inertia) {
            m.run = 0;
            if (isIn) {
              m.inside = true;
              m.enteredAt = m.runStart;
              if (dwellZones.has(zone.id))
                emit({ type: 'zone_enter', zone: zone.id, trackId: t.id }, m.runStart);
            } else exitZone(t.id, zone, m, m.runStart);
          }
        }
      }
      const boxHeight = (t.box.y2 - t.box.y1) / frame.height;
      for (const line of this.#config.lines) {
        const bandHalf = line.band * boxHeight;
        // Feet within the band around the line keep the side they had: a person lingering on the
        // line, or a box whose bottom wobbles, does not flip sides frame after frame.
        const geometric = sideOf(anchor, line);
        let s = p.lines.get(line.id);
        if (!s) {
          // A person's standing starts where they were first seen, not where their track was
          // confirmed: someone who crossed in between crossed while in view.
          const first = this.#anchorOf(t.firstBox, frame.width, frame.height);
          s = { side: sideOf(first, line), point: first, run: 0, runStart: time, runPoint: first };
          p.lines.set(line.id, s);
        }
        const side = Math.abs(distanceToLine(anchor, line)) < bandHalf ? s.side : geometric;
        if (side === s.side) {
          s.run = 0;
          // The crossing test starts from the last point really on this side.
          if (geometric === s.side) s.point = anchor;
          continue;
        }
        if (s.run === 0) {
          s.runStart = time;
          s.runPoint = anchor;
        }
        s.run++;
        if (s.run < line.inertia) continue;
        // The step from the last point on the old side to the first on the new one must pass
        // through the segment itself: walking round its end changes sides without crossing.
        if (segmentsTouch(s.point, s.runPoint, line.a, line.b) && countedLines.has(line.id)) {
          this.#countLine(line.id, side, s.runStart);
          emit({ type: 'line_crossing', line: line.id, trackId: t.id, direction: side }, s.runStart);
        }
        s.side = side;
        s.point = anchor;
        s.run = 0;
      }
    }

    // People whose track ended leave every zone at the time they were last seen.
    for (const t of this.#tracker.ended) {
      const p = this.#people.get(t.id);
      if (!p) continue;
      for (const zone of this.#config.zones) {
        const m = p.zones.get(zone.id);
        if (m?.inside) exitZone(t.id, zone, m, Math.max(m.enteredAt, t.lastSeen));
      }
      this.#people.delete(t.id);
    }

    // Occupancy per zone, loitering, overcrowding, queue.
    const occupancy: Record<string, number> = {};
    for (const zone of this.#config.zones) occupancy[zone.id] = 0;
    for (const t of this.#tracks) {
      const p = this.#people.get(t.id);
      if (!p) continue;
      for (const [zoneId, m] of p.zones) {
        if (!m.inside) continue;
        occupancy[zoneId] = (occupancy[zoneId] ?? 0) + 1;
        const rule = loiterRules.find((r) => r.zone === zoneId);
        const dwellS = (time - m.enteredAt) / 1000;
        if (rule && !m.loitering && dwellS > rule.dwellSeconds) {
          m.loitering = true;
          emit({
            type: 'alert',
            alert: 'loitering',
            state: 'raised',
            zone: zoneId,
            trackId: t.id,
            value: dwellS,
            threshold: rule.dwellSeconds,
          });
        }
      }
    }
    this.#occupancy = occupancy;
    const occ = this.#op('occupancy');
    if (occ) {
      const zones = this.#opZones('occupancy');
      for (const zoneId of zones) {
        const count = occupancy[zoneId] ?? 0;
        const last = this.#reported.get(zoneId);
        const reason = !last ? 'interval' : last.count !== count ? 'change' : undefined;
        const due = !last || time - last.at >= occ.intervalSeconds * 1000;
        if (reason || due) {
          emit({ type: 'occupancy', zone: zoneId, count, reason: reason ?? 'interval' });
          this.#reported.set(zoneId, { count, at: reason === 'change' ? (last?.at ?? time) : time });
        }
      }
    }
    this.#rules('overcrowding').forEach((rule, i) => {
      const count = occupancy[rule.zone] ?? 0;
      if (count > rule.maxPeople) {
        const since = this.#overSince.get(i) ?? time;
        this.#overSince.set(i, since);
        if (!this.#overRaised.has(i) && time - since >= rule.forSeconds * 1000) {
          this.#overRaised.add(i);
          emit({
            type: 'alert',
            alert: 'overcrowding',
            state: 'raised',
            zone: rule.zone,
            value: count,
            threshold: rule.maxPeople,
          });
        }
      } else {
        this.#overSince.delete(i);
        if (this.#overRaised.delete(i))
          emit({
            type: 'alert',
            alert: 'overcrowding',
            state: 'cleared',
            zone: rule.zone,
            value: count,
            threshold: rule.maxPeople,
          });
      }
    });
    const q = this.#op('queue');
    const qZone = this.#queueZone();
    if (q && qZone) {
      const length = occupancy[qZone] ?? 0;
      const last = this.#queueReported.get(qZone);
      const changed = !last || last.length !== length;
      if (changed || time - last.at >= q.intervalSeconds * 1000) {
        emit({
          type: 'queue',
          zone: qZone,
          length,
          waitSeconds: this.#waitSeconds(qZone, length, time),
          reason: changed && last ? 'change' : 'interval',
        });
        this.#queueReported.set(qZone, { length, at: changed && last ? last.at : time });
      }
    }
    return events;
  }

  /** Live state for the API. */
  state(): CameraAnalyticsState {
    const zoneKinds = new Map(this.#config.zones.map((z) => [z.id, z.kind]));
    const time = this.#lastFrame?.time;
    const qZone = this.#op('queue') ? this.#queueZone() : undefined;
    const alerts: CameraAnalyticsState['alerts'] = [];
    this.#rules('overcrowding').forEach((r, i) => {
      if (this.#overRaised.has(i))
        alerts.push({ alert: 'overcrowding', zone: r.zone, since: iso(this.#overSince.get(i) ?? 0) });
    });
    const tracks = this.#tracks.map((t) => {
      const p = this.#people.get(t.id);
      const zones = p ? [...p.zones].filter(([, m]) => m.inside).map(([id]) => id) : [];
      for (const [id, m] of p?.zones ?? [])
        if (m.loitering)
          alerts.push({ alert: 'loitering', zone: id, trackId: t.id, since: iso(m.enteredAt) });
      return {
        trackId: t.id,
        label: t.label,
        score: round3(t.score),
        box: { x1: round1(t.box.x1), y1: round1(t.box.y1), x2: round1(t.box.x2), y2: round1(t.box.y2) },
        state: t.state === 'lost' ? ('lost' as const) : ('tracked' as const),
        zones,
      };
    });
    return {
      cameraId: this.cameraId,
      storeId: this.#o.storeId,
      configVersion: this.#version,
      frameId: this.#lastFrame?.id ?? null,
      time: time === undefined ? null : iso(time),
      day: this.#day,
      timezone: this.#o.timezone ?? 'UTC',
      tracks,
      zones: Object.fromEntries(
        this.#config.zones.map((z) => [
          z.id,
          { kind: zoneKinds.get(z.id) ?? 'area', occupancy: this.#occupancy[z.id] ?? 0 },
        ]),
      ),
      lines: structuredClone(this.#lineCounts),
      queues:
        qZone && time !== undefined
          ? {
              [qZone]: {
                length: this.#occupancy[qZone] ?? 0,
                waitSeconds: this.#waitSeconds(qZone, this.#occupancy[qZone] ?? 0, time),
              },
            }
          : {},
      alerts,
      frames: { analysed: this.#analysed, outOfOrder: this.#outOfOrder },
    };
  }

  #anchor(t: Track, w: number, h: number): Point {
    return this.#anchorOf(t.box, w, h);
  }

  #anchorOf(b: Box, w: number, h: number): Point {
    const y = this.#config.anchor === 'center' ? (b.y1 + b.y2) / 2 : b.y2;
    return [(b.x1 + b.x2) / 2 / w, y / h];
  }

  #rollDay(time: number): void {
    const day = this.dayOf(time);
    if (day === this.#day) return;
    if (this.#day !== null && day < this.#day) return; // never roll back over a clock oddity
    this.#day = day;
    for (const id of Object.keys(this.#lineCounts)) this.#lineCounts[id] = { in: 0, out: 0 };
  }

  #countLine(lineId: string, direction: 'in' | 'out', at: number): void {
    // A crossing decided just after midnight may have started before it: it counts for its own day
    // in storage, and in the live counts only if that is the current day.
    if (this.dayOf(at) !== this.#day) return;
    const c = this.#lineCounts[lineId] ?? { in: 0, out: 0 };
    c[direction]++;
    this.#lineCounts[lineId] = c;
  }

  /** Little's law: wait = queue length / departure rate over the recent window. */
  #waitSeconds(zoneId: string, length: number, time: number): number | null {
    if (length === 0) return 0;
    const windowMs = (this.#op('queue')?.windowSeconds ?? 300) * 1000;
    const d = (this.#departures.get(zoneId) ?? []).filter((t) => t > time - windowMs);
    this.#departures.set(zoneId, d);
    if (d.length === 0) return null;
    const span = Math.min(windowMs, time - (this.#firstTime ?? time));
    if (span <= 0) return null;
    return Math.round((length / (d.length / (span / 1000))) * 10) / 10;
  }

  #op<T extends AnalyticsConfig['operations'][number]['type']>(
    type: T,
  ): Extract<AnalyticsConfig['operations'][number], { type: T }> | undefined {
    return this.#config.operations.find((o) => o.type === type) as
      | Extract<AnalyticsConfig['operations'][number], { type: T }>
      | undefined;
  }

  #opZones(type: 'occupancy' | 'zone_dwell'): Set<string> {
    const op = this.#op(type);
    if (!op) return new Set();
    return new Set(op.zones ?? this.#config.zones.map((z) => z.id));
  }

  #opLines(): Set<string> {
    const op = this.#op('line_crossing');
    if (!op) return new Set();
    return new Set(op.lines ?? this.#config.lines.map((l) => l.id));
  }

  #queueZone(): string | undefined {
    const op = this.#op('queue');
    return op?.zone ?? this.#config.zones.find((z) => z.kind === 'queue')?.id;
  }

  #rules<K extends AlertRule['kind']>(kind: K): Extract<AlertRule, { kind: K }>[] {
    const rules = this.#op('alerts')?.rules ?? [];
    return rules.filter((r) => r.kind === kind) as Extract<AlertRule, { kind: K }>[];
  }

  #event(body: EventBody, frameId: string, at: number): AnalyticsEvent {
    const key = [
      this.cameraId,
      frameId,
      body.type,
      'zone' in body ? body.zone : '',
      'line' in body ? body.line : '',
      'trackId' in body ? (body.trackId ?? '') : '',
      'reason' in body ? body.reason : '',
      'alert' in body ? `${body.alert}:${body.state}` : '',
    ].join('|');
    return {
      schemaVersion: 1,
      id: `ev_${createHash('sha256').update(key).digest('hex').slice(0, 32)}`,
      storeId: this.#o.storeId,
      cameraId: this.cameraId,
      nodeId: this.#o.nodeId,
      time: iso(at),
      frameId,
      configVersion: this.#version,
      ...body,
    } as AnalyticsEvent;
  }
}

/** Which side of a line a point is on, relative to its `in` vector. */
export function sideOf(p: Point, line: Pick<AnalyticsLine, 'a' | 'b' | 'in'>): 'in' | 'out' {
  const s = orient(line.a, line.b, p);
  const inRef = orient(line.a, line.b, [line.a[0] + line.in[0], line.a[1] + line.in[1]]);
  return s * inRef > 0 ? 'in' : 'out';
}

/** Signed distance of a point from the infinite line through a and b (normalised units). */
export function distanceToLine(p: Point, line: Pick<AnalyticsLine, 'a' | 'b'>): number {
  const len = Math.hypot(line.b[0] - line.a[0], line.b[1] - line.a[1]);
  return len > 0 ? orient(line.a, line.b, p) / len : 0;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
const round1 = (x: number) => Math.round(x * 10) / 10;
const round3 = (x: number) => Math.round(x * 1000) / 1000;
