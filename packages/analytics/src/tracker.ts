import type { Box, TrackerConfig } from '@storevision/contracts';
import { trackerConfigSchema } from '@storevision/contracts';
import { appearanceDistance } from './appearance.ts';
import { linearAssignment } from './assignment.ts';
import { BoxKalman } from './kalman.ts';

/** One detection handed to the tracker (pixels). */
export interface TrackInput {
  box: Box;
  score: number;
  label: string;
  /** Colour descriptor (`appearanceOf`), when the edge computed one. */
  appearance?: readonly number[] | undefined;
}

export type TrackState = 'tentative' | 'tracked' | 'lost';

/** A track after an update. `id` is 0 until the track is confirmed. */
export interface Track {
  id: number;
  state: TrackState;
  label: string;
  score: number;
  /** The matched detection's box when seen this frame, else the prediction. */
  box: Box;
  /** Whether a detection was matched to it in this update. */
  seen: boolean;
  /** Capture time (ms) it was last seen. */
  lastSeen: number;
  /** Capture time (ms) it was first seen. */
  born: number;
  /** The box it was first seen with (before it was confirmed). */
  firstBox: Box;
  /** Detection frames it was seen in. */
  hits: number;
}

interface InternalTrack extends Track {
  kf: BoxKalman;
  /** Smoothed colour descriptor (exponential moving average of unoccluded sightings). */
  appearance: number[] | undefined;
}

/**
 * A detection overlapping another this much has mixed colours: it does not update the track's
 * colours, and the colour gate (`appearanceGate`) does not apply to it (it only weighs in the cost).
 */
const CLEAR_IOU = 0.3;
/** Growth of a tentative track's box: it has no velocity yet (C-BIoU's first-stage 0.3). */
const TENTATIVE_BUFFER = 0.3;
/** Growth cap: beyond a body size on each side every box overlaps every other. */
const MAX_BUFFER = 1;
/** A lost track is re-identified by colour only within this many body heights of where it was predicted. */
const REID_RADIUS = 1.5;
/** ByteTrack's `match_thresh=0.7` distance for unconfirmed tracks. */
const TENTATIVE_MATCH_IOU = 0.3;

export function iou(a: Box, b: Box): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

export interface ByteTrackerOptions {
  config?: Partial<TrackerConfig>;
  /** Frame size, to end lost tracks whose prediction has left the picture. */
  frameWidth?: number;
  frameHeight?: number;
}

/**
 * ByteTrack (Zhang et al., ECCV 2022) for one camera: every detection box is associated, high-score
 * ones first against all tracks (including lost ones), then low-score ones against the remaining
 * seen tracks — a person half hidden behind a shelf scores low and still keeps their track. A track
 * is confirmed (and gets an id) after `confirmFrames` detection frames in a row, survives
 * `maxLostSeconds` unseen on its motion model, and then ends. Time steps are the frames' capture
 * times, so gaps between detections (5 fps detection, dropped frames) are predicted across.
 */
export class ByteTracker {
  readonly config: TrackerConfig;
  #tracks: InternalTrack[] = [];
  #nextId = 1;
  #lastTime: number | undefined;
  /** This update's detections that overlap no other by `CLEAR_IOU`: their colours are their own. */
  #clear = new Set<TrackInput>();
  #width: number | undefined;
  #height: number | undefined;
  /** Tracks that ended in the last update (confirmed ones only). */
  ended: Track[] = [];

  constructor(opts: ByteTrackerOptions = {}) {
    this.config = trackerConfigSchema.parse(opts.config ?? {});
    this.#width = opts.frameWidth;
    this.#height = opts.frameHeight;
  }

  /** Ids handed out so far + 1; persisted by callers that want ids to keep increasing across restarts. */
  get nextId(): number {
    return this.#nextId;
  }

  set nextId(n: number) {
    this.#nextId = Math.max(this.#nextId, n);
  }

  /**
   * Feeds one frame's detections (already filtered to the tracked labels) taken at `time` (ms).
   * Returns the confirmed tracks, seen or lost, after the update.
   */
  update(
    detections: readonly TrackInput[],
    time: number,
    frameWidth?: number,
    frameHeight?: number,
  ): Track[] {
    const c = this.config;
    if (frameWidth) this.#width = frameWidth;
    if (frameHeight) this.#height = frameHeight;
    const dt = this.#lastTime === undefined ? 0 : Math.max(0, (time - this.#lastTime) / 1000);
    this.#lastTime = time;
    this.ended = [];
    for (const t of this.#tracks) {
      if (t.state === 'lost') t.kf.stopResizing();
      t.kf.predict(dt);
      t.box = t.kf.box();
      t.seen = false;
    }
    this.#clear.clear();
    for (let i = 0; i < detections.length; i++) {
      const d = detections[i]!;
      let crowded = false;
      for (let j = 0; j < detections.length && !crowded; j++)
        crowded = j !== i && iou(d.box, detections[j]!.box) >= CLEAR_IOU;
      if (!crowded) this.#clear.add(d);
    }
    const clear = (d: TrackInput) => this.#clear.has(d);
    const high: TrackInput[] = [];
    const low: TrackInput[] = [];
    for (const d of detections) {
      if (d.score >= c.highScore) high.push(d);
      else if (d.score >= c.lowScore) low.push(d);
    }

    // 1. High-score detections against confirmed tracks, seen or lost (score-fused IoU).
    const pool = this.#tracks.filter((t) => t.state !== 'tentative');
    const first = this.#associate(pool, high, c.matchIou, true, time);
    for (const [ti, di] of first.matches) this.#hit(pool[ti]!, high[di]!, time, clear(high[di]!));

    // 2. Low-score detections against the seen tracks still unmatched.
    const remaining = first.unmatchedRows.map((i) => pool[i]!).filter((t) => t.state === 'tracked');
    const second = this.#associate(remaining, low, c.lowMatchIou, false, time);
    for (const [ti, di] of second.matches) this.#hit(remaining[ti]!, low[di]!, time, false);
    for (const ti of second.unmatchedRows) remaining[ti]!.state = 'lost';

    // 3. Tentative tracks against the high-score detections left; one miss ends a tentative track.
    const leftHigh = first.unmatchedCols.map((i) => high[i]!);
    const tentative = this.#tracks.filter((t) => t.state === 'tentative');
    const third = this.#associate(tentative, leftHigh, TENTATIVE_MATCH_IOU, true, time);
    for (const [ti, di] of third.matches)
      this.#hit(tentative[ti]!, leftHigh[di]!, time, clear(leftHigh[di]!));
    const dead = new Set<InternalTrack>(third.unmatchedRows.map((i) => tentative[i]!));

    // 4. New tracks from confident detections nobody claimed.
    for (const di of third.unmatchedCols) {
      const d = leftHigh[di]!;
      if (d.score < c.newTrackScore) continue;
      const t: InternalTrack = {
        id: 0,
        state: 'tentative',
        label: d.label,
        score: d.score,
        box: d.box,
        seen: true,
        lastSeen: time,
        born: time,
        firstBox: d.box,
        hits: 1,
        kf: new BoxKalman(d.box),
        appearance: d.appearance ? [...d.appearance] : undefined,
      };
      if (c.confirmFrames <= 1) this.#confirm(t);
      this.#tracks.push(t);
    }

    // 5. End tracks lost for too long, or whose prediction has left the frame.
    const maxLostMs = c.maxLostSeconds * 1000;
    for (const t of this.#tracks) {
      if (t.state !== 'lost') continue;
      if (time - t.lastSeen > maxLostMs || this.#outside(t.box)) dead.add(t);
    }
    if (dead.size) {
      this.ended = [...dead].filter((t) => t.id > 0).map(publicTrack);
      this.#tracks = this.#tracks.filter((t) => !dead.has(t));
    }
    return this.#tracks.filter((t) => t.id > 0).map(publicTrack);
  }

  #hit(t: InternalTrack, d: TrackInput, time: number, clear: boolean): void {
    t.kf.update(d.box);
    // Only a detection nobody else overlaps says what the person looks like (BoT-SORT smooths with 0.9).
    if (d.appearance && clear) {
      if (!t.appearance) t.appearance = [...d.appearance];
      else
        for (let i = 0; i < t.appearance.length; i++)
          t.appearance[i] = 0.9 * t.appearance[i]! + 0.1 * (d.appearance[i] ?? 0);
    }
    t.box = d.box;
    t.score = d.score;
    t.seen = true;
    t.lastSeen = time;
    t.hits++;
    if (t.state === 'tentative') {
      if (t.hits >= this.config.confirmFrames) this.#confirm(t);
    } else t.state = 'tracked';
  }

  #confirm(t: InternalTrack): void {
    t.state = 'tracked';
    t.id = this.#nextId++;
  }

  /**
   * The cost of pairing each track with each detection: 1 − score-fused IoU (ByteTrack's
   * `fuse_score`) plus their colour distance. A tentative track's box is grown (it has no velocity
   * yet), and a seen track's by `bufferPerSecond` per second since its last detection (C-BIoU, Yang
   * et al. 2023: a box that jumps in size as a person steps out from behind a door frame still
   * overlaps); a lost track's never is: through a crowded doorway its grown box took whoever walked
   * out of the occlusion first. Pairs below `minIou` are not allowed, except the re-identification
   * of a lost track by colour; a clearly seen detection in clearly different clothes never pairs.
   */
  #associate(tracks: InternalTrack[], dets: TrackInput[], minIou: number, fuseScore: boolean, time: number) {
    const c = this.config;
    const cost = tracks.map((t) => {
      const gap = (time - t.lastSeen) / 1000;
      const buffer =
        t.state === 'tentative'
          ? Math.max(TENTATIVE_BUFFER, c.bufferPerSecond * gap)
          : t.state === 'lost'
            ? 0
            : Math.min(MAX_BUFFER, c.bufferPerSecond * gap);
      const tb = grow(t.box, buffer);
      return dets.map((d) => {
        if (d.label !== t.label) return Number.POSITIVE_INFINITY;
        const o = iou(tb, grow(d.box, buffer));
        const app = t.appearance && d.appearance ? appearanceDistance(t.appearance, d.appearance) : undefined;
        // Someone in clearly different clothes, seen clearly, is not this person however well the
        // boxes overlap: in a doorway the person stepping out from behind another takes the box
        // the hidden one's track predicted.
        if (app !== undefined && app > c.appearanceGate && t.state !== 'tentative' && this.#clear.has(d))
          return Number.POSITIVE_INFINITY;
        if (o >= minIou) return 1 - (fuseScore ? o * d.score : o) + c.appearanceWeight * (app ?? 0);
        // A lost person seen again where the boxes no longer overlap: near enough, dressed the same.
        // Priced above every overlapping pair, so it only takes what overlap cannot explain.
        if (t.state === 'lost' && app !== undefined && app < c.reidDistance) {
          const h = t.box.y2 - t.box.y1;
          const dist = Math.hypot(
            (t.box.x1 + t.box.x2 - d.box.x1 - d.box.x2) / 2,
            (t.box.y1 + t.box.y2 - d.box.y1 - d.box.y2) / 2,
          );
          if (dist < REID_RADIUS * h) return 2 + app + dist / h;
        }
        return Number.POSITIVE_INFINITY;
      });
    });
    return linearAssignment(cost, dets.length, Number.MAX_VALUE);
  }

  #outside(b: Box): boolean {
    if (!this.#width || !this.#height) return false;
    const cx = (b.x1 + b.x2) / 2;
    const cy = (b.y1 + b.y2) / 2;
    return cx < 0 || cy < 0 || cx > this.#width || cy > this.#height;
  }
}

function grow(b: Box, k: number): Box {
  if (k <= 0) return b;
  const dw = (b.x2 - b.x1) * k;
  const dh = (b.y2 - b.y1) * k;
  return { x1: b.x1 - dw, y1: b.y1 - dh, x2: b.x2 + dw, y2: b.y2 + dh };
}

function publicTrack(t: InternalTrack): Track {
  return {
    id: t.id,
    state: t.state,
    label: t.label,
    score: t.score,
    box: t.box,
    seen: t.seen,
    lastSeen: t.lastSeen,
    born: t.born,
    firstBox: t.firstBox,
    hits: t.hits,
  };
}
