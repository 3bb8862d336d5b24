import { describe, expect, it } from 'vitest';
import { ByteTracker, type TrackInput } from './tracker.ts';

/** A 60×160 px person whose feet are at (x, y). */
function person(x: number, y: number, score = 0.9, appearance?: number[]): TrackInput {
  return { box: { x1: x - 30, y1: y - 160, x2: x + 30, y2: y }, score, label: 'person', appearance };
}

const RED = [0.3, 0.2, 0.1, 0.8, 0.1, 0.1, 0.2, 0.2, 0.3];
const BLUE = [0.1, 0.1, 0.1, 0.1, 0.2, 0.8, 0.5, 0.4, 0.3];
/** Colour histograms as `appearanceOf` gives them (torso bins, legs bins): distance 0.8 apart. */
const GREEN_TOP = [0.7, 0.3, 0, 0, 0.1, 0.9, 0, 0];
const PINK_TOP = [0, 0.2, 0.8, 0, 0, 0.1, 0, 0.9];

/** Ids of the seen tracks nearest to each given x (one per person). */
function idsAt(tracks: ReturnType<ByteTracker['update']>, xs: number[]): number[] {
  return xs.map((x) => {
    const seen = tracks.filter((t) => t.seen);
    seen.sort((a, b) => Math.abs((a.box.x1 + a.box.x2) / 2 - x) - Math.abs((b.box.x1 + b.box.x2) / 2 - x));
    return seen[0]?.id ?? -1;
  });
}

describe('ByteTracker', () => {
  it('keeps one id per person walking at 10 fps, confirmed on the second frame', () => {
    const tr = new ByteTracker();
    const first = tr.update([person(100, 400)], 0);
    expect(first).toHaveLength(0); // tentative: no id yet
    const ids = new Set<number>();
    for (let i = 1; i < 50; i++)
      for (const t of tr.update([person(100 + i * 12, 400)], i * 100)) ids.add(t.id);
    expect([...ids]).toEqual([1]);
  });

  it('tracks across 200 ms gaps (detection at 5 fps) at walking speed', () => {
    const tr = new ByteTracker();
    const ids = new Set<number>();
    // 1.4 m/s ≈ 120 px/s here: 24 px between detections, box 60 px wide.
    for (let i = 0; i < 40; i++)
      for (const t of tr.update([person(100 + i * 24, 400)], i * 200)) ids.add(t.id);
    expect(ids.size).toBe(1);
  });

  it('two people crossing paths keep their own ids (no swap)', () => {
    const tr = new ByteTracker();
    let start: number[] = [];
    let end: number[] = [];
    for (let i = 0; i <= 40; i++) {
      const a = 100 + i * 15;
      const b = 700 - i * 15;
      const tracks = tr.update([person(a, 400), person(b, 410)], i * 100);
      if (i === 5) start = idsAt(tracks, [a, b]);
      if (i === 40) end = idsAt(tracks, [a, b]);
    }
    expect(start).toEqual([1, 2]);
    expect(end).toEqual(start);
  });

  it('a person hidden for 0.8 s behind a shelf comes back with the same id', () => {
    const tr = new ByteTracker();
    const ids = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const hidden = i >= 15 && i < 23;
      const tracks = tr.update(hidden ? [] : [person(100 + i * 10, 400)], i * 100);
      for (const t of tracks) if (t.seen) ids.add(t.id);
      if (hidden) expect(tracks.map((t) => t.state)).toEqual(['lost']);
    }
    expect([...ids]).toEqual([1]);
  });

  it('low-score detections of a half-hidden person keep the track seen (second association)', () => {
    const tr = new ByteTracker();
    for (let i = 0; i < 5; i++) tr.update([person(100 + i * 10, 400)], i * 100);
    const tracks = tr.update([person(150, 400, 0.3)], 500);
    expect(tracks).toHaveLength(1);
    expect(tracks[0]).toMatchObject({ id: 1, state: 'tracked', seen: true });
    // Alone, the same low score would never start a track.
    const fresh = new ByteTracker();
    fresh.update([person(100, 400, 0.3)], 0);
    expect(fresh.update([person(100, 400, 0.3)], 100)).toHaveLength(0);
  });

  it('ends a track unseen for longer than maxLostSeconds and reports it once', () => {
    const tr = new ByteTracker({ config: { maxLostSeconds: 1 } });
    for (let i = 0; i < 3; i++) tr.update([person(300, 400)], i * 100);
    let ended = 0;
    for (let i = 3; i < 20; i++) {
      const tracks = tr.update([], i * 100);
      ended += tr.ended.length;
      if (i * 100 - 200 > 1000) expect(tracks).toHaveLength(0);
    }
    expect(ended).toBe(1);
  });

  it('a one-frame false detection never gets an id', () => {
    const tr = new ByteTracker();
    tr.update([person(300, 400)], 0);
    for (let i = 1; i < 5; i++) expect(tr.update([], i * 100)).toHaveLength(0);
    expect(tr.nextId).toBe(1);
  });

  it('re-identifies a person by colour after a hidden stretch in which they changed pace (no box overlap)', () => {
    const tr = new ByteTracker();
    const ids = new Set<number>();
    for (let i = 0; i < 10; i++)
      for (const t of tr.update([person(100 + i * 10, 400, 0.9, RED)], i * 100)) ids.add(t.id);
    // Hidden for 1 s while walking 3x faster than before: the prediction ends ~200 px short.
    for (let i = 10; i < 20; i++) tr.update([], i * 100);
    const back = tr.update([person(490, 400, 0.9, RED)], 2000);
    expect(back.filter((t) => t.seen).map((t) => t.id)).toEqual([1]);
    // Someone dressed differently at the same spot is a new person.
    const other = new ByteTracker();
    for (let i = 0; i < 10; i++) other.update([person(100 + i * 10, 400, 0.9, RED)], i * 100);
    for (let i = 10; i < 20; i++) other.update([], i * 100);
    other.update([person(490, 400, 0.9, BLUE)], 2000);
    const next = other.update([person(495, 400, 0.9, BLUE)], 2100);
    expect(next.filter((t) => t.seen).map((t) => t.id)).toEqual([2]);
  });

  it('a clearly seen person in different clothes does not continue the track of the one who vanished there', () => {
    // Regression: a shopper steps out from behind a pillar just where the one walking behind it was
    // predicted; the boxes overlap well, the clothes do not match.
    const tr = new ByteTracker();
    for (let i = 0; i < 10; i++) tr.update([person(100 + i * 12, 400, 0.9, GREEN_TOP)], i * 100);
    tr.update([], 1000);
    const tracks = tr.update([person(232, 400, 0.9, PINK_TOP)], 1100);
    expect(tracks.filter((t) => t.seen)).toHaveLength(0); // a new, tentative track
    expect(tracks.map((t) => [t.id, t.state])).toEqual([[1, 'lost']]);
    const next = tr.update([person(236, 400, 0.9, PINK_TOP)], 1200);
    expect(next.filter((t) => t.seen).map((t) => t.id)).toEqual([2]);
  });

  it('keeps the id of a person hidden for 2 s although someone else walks past where they vanished', () => {
    const tr = new ByteTracker();
    for (let i = 0; i < 10; i++) tr.update([person(300 + i * 5, 400, 0.9, GREEN_TOP)], i * 100);
    // Hidden behind a display for 2 s; meanwhile someone else crosses the spot, walking the other way.
    for (let i = 10; i < 30; i++) tr.update([person(700 - (i - 10) * 20, 405, 0.9, PINK_TOP)], i * 100);
    // Back a little further on, next to the other person.
    const back = tr.update([person(420, 400, 0.9, GREEN_TOP), person(300, 405, 0.9, PINK_TOP)], 3000);
    const ids = idsAt(back, [420, 300]);
    expect(ids[0]).toBe(1);
    expect(ids[1]).toBe(2);
  });
});
