import { describe, expect, it } from 'vitest';
import { motionThumbnail, movedFraction, THUMB_HEIGHT } from './motion.ts';

const W = 384;
const H = 216;

/** A store-like RGB picture: a grey gradient floor, seeded sensor noise, optional dark "person" boxes. */
function picture(o: { seed: number; noise?: number; light?: number; people?: Array<[number, number]> }) {
  let s = o.seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      let v = 90 + (x * 80) / W + (y * 40) / H;
      for (const [px, py] of o.people ?? []) if (x >= px && x < px + 16 && y >= py && y < py + 40) v = 40;
      // Approximately normal noise (sum of uniforms), scaled to the given standard deviation.
      const n = ((rand() + rand() + rand() + rand() - 2) / 0.577) * (o.noise ?? 0);
      const g = Math.max(0, Math.min(255, Math.round(v * (o.light ?? 1) + n)));
      data.set([g, g, g], (y * W + x) * 3);
    }
  return { data, width: W, height: H, channels: 3 };
}

const moved = (a: ReturnType<typeof picture>, b: ReturnType<typeof picture>) =>
  movedFraction(motionThumbnail(a), motionThumbnail(b), 20);

describe('motion gating', () => {
  it('makes a grey thumbnail THUMB_HEIGHT rows high with the aspect ratio kept, as block averages', () => {
    const t = motionThumbnail(picture({ seed: 1 }));
    expect(t.height).toBe(THUMB_HEIGHT);
    expect(t.width).toBe(Math.round((W * THUMB_HEIGHT) / H));
    // Top-left block: floor grey 90 + a little gradient; bottom-right: 90 + 80 + 40 at most.
    expect(t.data[0]).toBeGreaterThanOrEqual(90);
    expect(t.data[0]).toBeLessThan(95);
    expect(t.data[t.data.length - 1]).toBeGreaterThan(200);
    expect(t.data[t.data.length - 1]).toBeLessThanOrEqual(210);
  });

  it('sees no motion between two frames of an empty scene with heavy sensor noise (σ 10 grey levels)', () => {
    expect(moved(picture({ seed: 1, noise: 10 }), picture({ seed: 2, noise: 10 }))).toBe(0);
  });

  it('a light flicker or exposure step (every pixel 15 % darker) is not motion', () => {
    expect(moved(picture({ seed: 1, noise: 4 }), picture({ seed: 2, noise: 4, light: 0.85 }))).toBeLessThan(
      0.002,
    );
  });

  it('one small person (16×40 px of a 384×216 frame) stepping 20 px is motion', () => {
    const before = picture({ seed: 1, noise: 4, people: [[100, 120]] });
    const after = picture({ seed: 2, noise: 4, people: [[120, 120]] });
    const f = moved(before, after);
    expect(f).toBeGreaterThan(0.002);
    expect(f).toBeLessThan(0.05);
  });

  it('a person standing still is not motion; the same person walking in is', () => {
    const standing = picture({ seed: 1, noise: 4, people: [[200, 100]] });
    expect(moved(standing, picture({ seed: 3, noise: 4, people: [[200, 100]] }))).toBe(0);
    expect(moved(picture({ seed: 1, noise: 4 }), standing)).toBeGreaterThan(0.002);
  });

  it('thumbnails of different sizes (another aspect ratio) count as all moved', () => {
    const a = motionThumbnail(picture({ seed: 1 }));
    const b = motionThumbnail({ data: new Uint8Array(64 * 48 * 3), width: 64, height: 48, channels: 3 });
    expect(movedFraction(a, b, 20)).toBe(1);
  });
});
