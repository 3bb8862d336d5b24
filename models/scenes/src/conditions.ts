/** Image conditions chosen by the seed: resolution, light, colour, flicker, noise, blur, JPEG quality. */
import { Rng } from './rng.ts';

export const RESOLUTIONS: readonly [number, number][] = [
  [640, 480],
  [800, 600],
  [1024, 768],
  [1280, 720],
  [1600, 900],
  [1920, 1080],
];

export interface Conditions {
  width: number;
  height: number;
  /** Overall light level (1 = well lit). */
  light: number;
  /** Per-channel gain from the colour temperature of the lights. */
  tint: [number, number, number];
  colorTemperatureK: number;
  /** Relative brightness swing per frame from mains flicker. */
  flicker: number;
  /** Sensor noise standard deviation in 8-bit levels. */
  noise: number;
  /** How long the shutter is open (motion blur of walking people). */
  shutterSeconds: number;
  jpegQuality: number;
  vignette: number;
}

/** Approximate RGB gains of a light at a colour temperature, normalised to green. */
function tintOf(kelvin: number): [number, number, number] {
  const t = (kelvin - 4500) / 2000;
  return [1 - 0.12 * t, 1, 1 + 0.14 * t];
}

export function chooseConditions(seed: number, size?: { width: number; height: number }): Conditions {
  const rng = new Rng(seed, 0xc0d);
  const [width, height] = size ? [size.width, size.height] : rng.pick(RESOLUTIONS);
  const light = rng.uniform(0.45, 1.15);
  const kelvin = Math.round(rng.uniform(2800, 6500));
  return {
    width,
    height,
    light,
    tint: tintOf(kelvin),
    colorTemperatureK: kelvin,
    flicker: rng.chance(0.35) ? rng.uniform(0.02, 0.08) : 0,
    noise: rng.uniform(1, 4) + (1.15 - light) * rng.uniform(2, 8),
    shutterSeconds: rng.uniform(0.004, 0.03),
    jpegQuality: rng.int(55, 92),
    vignette: rng.uniform(0, 0.35),
  };
}
