/** Parsing and checking of option values shared by the commands. */

import type { SceneName } from '@storevision/contracts';
import { MAX_SIZE, MIN_SIZE, sceneNames } from '@storevision/scenes';
import { CliError } from './errors.ts';

const MAX_SEED = 2 ** 31 - 1;

export function parseSeed(v: string): number {
  if (!/^\d{1,10}$/.test(v) || Number(v) > MAX_SEED)
    throw new CliError('CLI_ERR_BAD_SEED', `bad seed "${v}": expected an integer from 0 to ${MAX_SEED}`);
  return Number(v);
}

/** `7`, `1000..1099` or `1,5,9`. */
export function parseSeeds(v: string): number[] {
  const range = /^(\d+)\.\.(\d+)$/.exec(v);
  if (range) {
    const a = parseSeed(range[1] as string);
    const b = parseSeed(range[2] as string);
    if (b < a || b - a > 100_000)
      throw new CliError('CLI_ERR_BAD_SEED', `bad seed range "${v}": expected A..B with A ≤ B`);
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  }
  return v.split(',').map((s) => parseSeed(s.trim()));
}

export function parseScene(v: string): SceneName {
  if (!(sceneNames as string[]).includes(v))
    throw new CliError('CLI_ERR_UNKNOWN_SCENE', `unknown scene "${v}" (known: ${sceneNames.join(', ')})`);
  return v as SceneName;
}

export function parseScenes(v: string): SceneName[] {
  if (v === 'all') return [...sceneNames];
  return v.split(',').map((s) => parseScene(s.trim()));
}

export function parseSize(name: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < MIN_SIZE || n > MAX_SIZE)
    throw new CliError('CLI_ERR_BAD_SIZE', `bad ${name} "${v}": expected ${MIN_SIZE} to ${MAX_SIZE} px`);
  return n;
}

/** An integer from `min` to `max`. */
function parseIntIn(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max)
    throw new CliError('CLI_ERR_USAGE', `bad ${name} "${v}": expected an integer from ${min} to ${max}`);
  return n;
}

export function parsePositiveInt(name: string, v: string, max: number): number {
  return parseIntIn(name, v, 1, max);
}

export function parseNonNegativeInt(name: string, v: string, max: number): number {
  return parseIntIn(name, v, 0, max);
}

/** A number above 0 (fractions allowed), at most `max`. */
export function parsePositiveNumber(name: string, v: string, max: number): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || n <= 0 || n > max)
    throw new CliError('CLI_ERR_USAGE', `bad ${name} "${v}": expected a number above 0, at most ${max}`);
  return n;
}

/** `--crowd`: a multiplier of the scenes' arrival rates, 0 to 10. */
export function parseCrowd(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 10)
    throw new CliError('CLI_ERR_USAGE', `bad --crowd "${v}": expected a number from 0 to 10`);
  return n;
}

/** A fraction from 0 to 1 (e.g. `--truth-boxes 0.25`). */
export function parseFraction(name: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new CliError('CLI_ERR_USAGE', `bad --${name} "${v}": expected a number from 0 to 1`);
  return n;
}

export function parseFps(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 120)
    throw new CliError('CLI_ERR_BAD_FPS', `bad fps "${v}": expected a number above 0, at most 120`);
  return n;
}
