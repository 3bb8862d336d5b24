import type { Box } from '@storevision/contracts';

/**
 * A constant-velocity Kalman filter on a box's centre, width and height, as ByteTrack and BoT-SORT
 * use (their F, H and Q are block-diagonal per coordinate, so four independent 2-state filters are
 * the same filter at a fraction of the cost). Time steps are real seconds, so tracking holds when
 * detection runs at 5 fps or skips frames.
 */

/**
 * ByteTrack's noise (std 1/20·h on position, 1/160·h px/frame on velocity, per frame at 30 fps),
 * restated per 0.1 s step with velocity in px/s: variances add over the three frames of a step, so
 * position √3/20·h and velocity √3·30/160·h.
 */
const STD_POSITION = Math.sqrt(3) / 20;
const STD_VELOCITY = (Math.sqrt(3) * 30) / 160;
/** Measurement noise stays ByteTrack's 1/20·h (one detection is one measurement at any rate). */
const STD_MEASUREMENT = 1 / 20;
const NOMINAL_STEP_S = 0.1;

export class BoxKalman {
  /** Per coordinate (cx, cy, w, h): position, velocity (px/s), and covariance [pp, pv, vv]. */
  readonly #x = new Float64Array(8);
  readonly #p = new Float64Array(12);

  constructor(box: Box) {
    const z = measure(box);
    for (let k = 0; k < 4; k++) {
      const s = scaleOf(z, k);
      this.#x[2 * k] = z[k]!;
      this.#x[2 * k + 1] = 0;
      this.#p[3 * k] = (2 * STD_POSITION * s) ** 2;
      this.#p[3 * k + 1] = 0;
      this.#p[3 * k + 2] = (10 * STD_VELOCITY * s) ** 2;
    }
  }

  /** Advances the state by `dt` seconds. */
  predict(dt: number): void {
    if (!(dt > 0)) return;
    const q = dt / NOMINAL_STEP_S;
    const z = [this.#x[0]!, this.#x[2]!, this.#x[4]!, this.#x[6]!];
    for (let k = 0; k < 4; k++) {
      const s = scaleOf(z, k);
      const i = 2 * k;
      this.#x[i] = this.#x[i]! + dt * this.#x[i + 1]!;
      const j = 3 * k;
      const pp = this.#p[j]!;
      const pv = this.#p[j + 1]!;
      const vv = this.#p[j + 2]!;
      this.#p[j] = pp + 2 * dt * pv + dt * dt * vv + (STD_POSITION * s) ** 2 * q;
      this.#p[j + 1] = pv + dt * vv;
      this.#p[j + 2] = vv + (STD_VELOCITY * s) ** 2 * q;
    }
    // Sizes cannot go negative however long a track coasts.
    this.#x[4] = Math.max(1, this.#x[4]!);
    this.#x[6] = Math.max(1, this.#x[6]!);
  }

  update(box: Box): void {
    const z = measure(box);
    for (let k = 0; k < 4; k++) {
      const r = (STD_MEASUREMENT * scaleOf(z, k)) ** 2;
      const i = 2 * k;
      const j = 3 * k;
      const pp = this.#p[j]!;
      const pv = this.#p[j + 1]!;
      const vv = this.#p[j + 2]!;
      const sInv = 1 / (pp + r);
      const kp = pp * sInv;
      const kv = pv * sInv;
      const innov = z[k]! - this.#x[i]!;
      this.#x[i] = this.#x[i]! + kp * innov;
      this.#x[i + 1] = this.#x[i + 1]! + kv * innov;
      this.#p[j] = (1 - kp) * pp;
      this.#p[j + 1] = (1 - kp) * pv;
      this.#p[j + 2] = vv - kv * pv;
    }
  }

  /** Forgets the size's rate of change (ByteTrack zeroes it while a track is lost). */
  stopResizing(): void {
    this.#x[5] = 0;
    this.#x[7] = 0;
  }

  box(): Box {
    const cx = this.#x[0]!;
    const cy = this.#x[2]!;
    const w = this.#x[4]!;
    const h = this.#x[6]!;
    return { x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 };
  }

  /** Centre velocity, px/s. */
  velocity(): [number, number] {
    return [this.#x[1]!, this.#x[3]!];
  }
}

function measure(b: Box): number[] {
  return [(b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2, Math.max(1, b.x2 - b.x1), Math.max(1, b.y2 - b.y1)];
}

/** Every coordinate's noise scales with the box height, as in ByteTrack (a person's width varies with pose). */
function scaleOf(z: readonly number[], _k: number): number {
  return z[3]!;
}
