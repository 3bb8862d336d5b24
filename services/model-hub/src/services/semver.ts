/**
 * Orders semantic versions by semver.org 2.0 precedence (build metadata ignored; a pre-release
 * sorts before its release; numeric pre-release parts before alphanumeric ones). Only called on
 * strings the contracts' semver pattern already accepted.
 */
export function compareSemver(a: string, b: string): number {
  const [ca, pa] = split(a);
  const [cb, pb] = split(b);
  for (let i = 0; i < 3; i++) {
    const d = (ca[i] ?? 0) - (cb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (pa.length === 0 || pb.length === 0) return pa.length === pb.length ? 0 : pa.length === 0 ? 1 : -1;
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return Math.sign(d);
    } else if (nx !== ny) return nx ? -1 : 1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function split(v: string): [number[], string[]] {
  const [core = '', pre] = v.split('+')[0]!.split(/-(.*)/s);
  return [core.split('.').map(Number), pre ? pre.split('.') : []];
}
