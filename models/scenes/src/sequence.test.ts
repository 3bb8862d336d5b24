import { createHash } from 'node:crypto';
import { gtFrameSchema, sceneDescriptionSchema } from '@storevision/contracts';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { sceneNames } from './scenes/index.ts';
import { SequenceRenderer, SimulationInputError } from './sequence.ts';

async function render(scene: 'entrance' | 'aisle' | 'checkout', seed: number, frames: number, fps = 5) {
  const r = new SequenceRenderer({ scene, seed, frames, fps, width: 640, height: 360 });
  const out = [];
  for await (const f of r.frames()) out.push(f);
  return { r, frames: out, ...r.finish() };
}

describe('scene renderer determinism', () => {
  it('gives byte-identical frames and ground truth for the same scene, seed and options', async () => {
    const a = await render('checkout', 42, 4);
    const b = await render('checkout', 42, 4);
    for (let i = 0; i < 4; i++) {
      expect(Buffer.compare(a.frames[i]!.jpeg, b.frames[i]!.jpeg)).toBe(0);
      expect(a.frames[i]!.truth).toEqual(b.frames[i]!.truth);
    }
    expect(a.summary).toEqual(b.summary);
  });

  it('gives other frames for another seed', async () => {
    const a = await render('checkout', 42, 1);
    const b = await render('checkout', 43, 1);
    expect(Buffer.compare(a.frames[0]!.jpeg, b.frames[0]!.jpeg)).not.toBe(0);
  });

  it('renders a frame the same whether or not the frames before it were rendered', async () => {
    const all = await render('aisle', 9, 4);
    const r = new SequenceRenderer({ scene: 'aisle', seed: 9, frames: 4, fps: 5, width: 640, height: 360 });
    const skipped = await r.frame(3);
    expect(Buffer.compare(skipped.jpeg, all.frames[3]!.jpeg)).toBe(0);
    expect(skipped.truth).toEqual(all.frames[3]!.truth);
  });

  it('simulates the same floor when only the ground truth is computed (no frame encoded)', async () => {
    // The entrance draws its street colour from the random stream that times its arrivals: a
    // truth-only run once skipped that draw and sent different people through the door.
    const opts = { scene: 'entrance', seed: 8202, frames: 120, fps: 10, width: 320, height: 240 } as const;
    const encoded = new SequenceRenderer(opts);
    const truthOnly = new SequenceRenderer(opts);
    for (let i = 0; i < opts.frames; i++) {
      const a = await encoded.frame(i, true);
      const b = await truthOnly.frame(i, false);
      expect(b.truth).toEqual(a.truth);
    }
    expect(truthOnly.finish()).toEqual(encoded.finish());
    expect(encoded.finish().crossings.length).toBeGreaterThan(0);
  });
});

describe('ground truth', () => {
  it.each(sceneNames)(
    '%s: boxes lie in the frame, records match the schema, zones and queues add up',
    async (scene) => {
      const fps = 5;
      const n = 150; // 30 s
      const r = new SequenceRenderer({ scene, seed: 11, frames: n, fps, width: 800, height: 450 });
      const frames = [];
      for (let i = 0; i < n; i++) frames.push((await r.frame(i, false)).truth);
      const { visits, crossings, summary } = r.finish();
      const desc = sceneDescriptionSchema.parse(r.describe());
      let people = 0;
      for (const f of frames) {
        gtFrameSchema.parse(f);
        for (const o of f.objects) {
          expect(o.box.x1).toBeGreaterThanOrEqual(0);
          expect(o.box.y1).toBeGreaterThanOrEqual(0);
          expect(o.box.x2).toBeLessThanOrEqual(800);
          expect(o.box.y2).toBeLessThanOrEqual(450);
          expect(o.box.x2 - o.box.x1).toBeGreaterThanOrEqual(1);
          expect(o.visible).toBeGreaterThan(0);
          expect(o.visible).toBeLessThanOrEqual(1);
          if (o.label === 'person') people++;
        }
        // Queue length is the occupancy of the queue zone, frame by frame.
        for (const z of desc.zones.filter((z) => z.kind === 'queue'))
          expect(f.queue[z.id]).toBe(f.occupancy[z.id]);
      }
      expect(people / n).toBeGreaterThan(1);
      // Zone visits are derived from the same anchors as occupancy: frames spent inside add up.
      for (const z of desc.zones) {
        const byOccupancy = frames.reduce((s, f) => s + (f.occupancy[z.id] ?? 0), 0);
        const byVisits = visits
          .filter((v) => v.zoneId === z.id)
          .reduce((s, v) => s + ((v.exitFrame ?? n) - v.enterFrame), 0);
        expect(byVisits).toBe(byOccupancy);
        for (const v of visits.filter((v) => v.zoneId === z.id && v.exitT !== undefined))
          expect(v.dwellMs).toBeCloseTo((v.exitT ?? 0) - v.enterT, 6);
      }
      // Summary counts are the crossing records, by line and direction.
      for (const l of desc.lines) {
        const mine = crossings.filter((c) => c.lineId === l.id);
        expect(summary.crossings[l.id]).toEqual({
          in: mine.filter((c) => c.direction === 'in').length,
          out: mine.filter((c) => c.direction === 'out').length,
        });
      }
    },
  );

  it('entrance: people cross the door line in both directions within two minutes', async () => {
    const r = new SequenceRenderer({
      scene: 'entrance',
      seed: 5,
      frames: 600,
      fps: 5,
      width: 640,
      height: 480,
    });
    for (let i = 0; i < 600; i++) await r.frame(i, false);
    const { summary } = r.finish();
    expect(summary.crossings.door!.in).toBeGreaterThanOrEqual(3);
    expect(summary.crossings.door!.out).toBeGreaterThanOrEqual(3);
  });

  it('checkout: a queue forms and drains', async () => {
    const r = new SequenceRenderer({
      scene: 'checkout',
      seed: 4,
      frames: 900,
      fps: 2,
      width: 640,
      height: 480,
    });
    const lengths: number[] = [];
    for (let i = 0; i < 900; i++) lengths.push((await r.frame(i, false)).truth.queue.queue ?? 0);
    expect(Math.max(...lengths)).toBeGreaterThanOrEqual(3);
    expect(Math.min(...lengths.slice(lengths.indexOf(Math.max(...lengths))))).toBeLessThanOrEqual(1);
  });

  it('draws people where the ground truth says: a box differs from the same spot without people', async () => {
    const r = new SequenceRenderer({ scene: 'aisle', seed: 3, frames: 1, fps: 5, width: 960, height: 540 });
    const f = await r.frame(0);
    const big = f.truth.objects.filter(
      (o) => o.label === 'person' && o.visible > 0.9 && o.box.y2 - o.box.y1 > 80,
    );
    expect(big.length).toBeGreaterThan(0);
    const { data, info } = await sharp(f.jpeg).raw().toBuffer({ resolveWithObject: true });
    // A person's box is not a flat region: the figure contrasts with the floor behind it.
    for (const o of big) {
      const values: number[] = [];
      for (let y = Math.ceil(o.box.y1); y < o.box.y2; y += 3)
        for (let x = Math.ceil(o.box.x1); x < o.box.x2; x += 3) values.push(data[(y * info.width + x) * 3]!);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
      expect(sd).toBeGreaterThan(15);
    }
  });
});

describe('image conditions', () => {
  it('vary by seed: resolutions from 640x480 to 1920x1080', () => {
    const sizes = new Set<string>();
    for (let seed = 0; seed < 60; seed++) {
      const r = new SequenceRenderer({ scene: 'aisle', seed, frames: 1, fps: 1 });
      sizes.add(`${r.conditions.width}x${r.conditions.height}`);
    }
    expect(sizes).toContain('640x480');
    expect(sizes).toContain('1920x1080');
    expect(sizes.size).toBeGreaterThanOrEqual(5);
  });
});

describe('crowd', () => {
  it('1 (the default) renders the scene as before the option existed; 0 leaves the aisle empty', async () => {
    const base = { seed: 5, frames: 40, fps: 5, width: 640, height: 480 };
    // sha256 of frame 39's ground truth, from the renderer before `crowd` existed (203f828).
    const before = { aisle: '9c1817a1ea227c46', checkout: 'ef62e9d20b5423bd', entrance: 'fecfce5d89d2bc74' };
    for (const [scene, digest] of Object.entries(before) as Array<[keyof typeof before, string]>) {
      for (const crowd of [undefined, 1]) {
        const f = await new SequenceRenderer({
          ...base,
          scene,
          ...(crowd === undefined ? {} : { crowd }),
        }).frame(39);
        expect(createHash('sha256').update(JSON.stringify(f.truth)).digest('hex').slice(0, 16)).toBe(digest);
      }
    }
    const busy = await new SequenceRenderer({ ...base, scene: 'aisle' }).frame(39);
    expect(busy.truth.objects.some((o) => o.label === 'person')).toBe(true);
    const empty = await new SequenceRenderer({ ...base, scene: 'aisle', crowd: 0 }).frame(39);
    expect(empty.truth.objects).toEqual([]);
  });
});

describe('bad options', () => {
  it.each([
    [{ scene: 'mall' }, 'SIM_ERR_UNKNOWN_SCENE'],
    [{ seed: -1 }, 'SIM_ERR_BAD_SEED'],
    [{ seed: 1.5 }, 'SIM_ERR_BAD_SEED'],
    [{ width: 100, height: 100 }, 'SIM_ERR_BAD_SIZE'],
    [{ width: 5000, height: 1000 }, 'SIM_ERR_BAD_SIZE'],
    [{ width: 640 }, 'SIM_ERR_BAD_SIZE'],
    [{ fps: 0 }, 'SIM_ERR_BAD_FPS'],
    [{ frames: 0 }, 'SIM_ERR_BAD_FRAMES'],
    [{ crowd: -1 }, 'SIM_ERR_BAD_CROWD'],
    [{ crowd: Number.NaN }, 'SIM_ERR_BAD_CROWD'],
  ])('%o is refused with %s', (patch, code) => {
    const opts = { scene: 'aisle', seed: 1, frames: 1, fps: 5, ...patch } as never;
    expect(() => new SequenceRenderer(opts)).toThrow(expect.objectContaining({ code }));
    expect(() => new SequenceRenderer(opts)).toThrow(SimulationInputError);
  });
});
