/**
 * Renders a store camera sequence: simulates the floor, draws each frame (background once, people
 * and furniture in depth order per frame), applies the seed's light, noise and JPEG conditions,
 * and derives exact ground truth from the same geometry that was drawn.
 */
import type {
  GtFrame,
  GtLineCrossing,
  GtObject,
  GtSequenceHeader,
  GtSummary,
  GtZoneVisit,
  SceneDescription,
  SceneName,
} from '@storevision/contracts';
import sharp from 'sharp';
import { Camera, type Pt } from './camera.ts';
import { type Conditions, chooseConditions } from './conditions.ts';
import { cartFigure, type Figure, personFigure, pointInPolygon } from './figure.ts';
import { Rng } from './rng.ts';
import type { SceneInstance, StaticItem } from './scene.ts';
import { scenes } from './scenes/index.ts';
import { type Agent, World } from './world.ts';

export interface SequenceOptions {
  scene: SceneName;
  seed: number;
  frames: number;
  fps: number;
  /** Both or neither; when absent the seed picks a resolution from 640×480 to 1920×1080. */
  width?: number;
  height?: number;
  /** Epoch of frame 0, for capture times. @defaultValue 2026-01-05T09:00:00Z */
  startEpochMs?: number;
  /**
   * Multiplies the scene's arrival rates: 0.1 is a quiet hour, 0 an empty store (only who is there
   * by design, e.g. the cashier). @defaultValue 1 (the same people, byte for byte, as without it)
   */
  crowd?: number;
}

export interface RenderedFrame {
  index: number;
  jpeg: Buffer;
  truth: GtFrame;
}

/** Default epoch of frame 0: a Monday morning, fixed so sequences are reproducible. */
export const DEFAULT_START_EPOCH_MS = Date.UTC(2026, 0, 5, 9, 0, 0);
export const MIN_SIZE = 160;
export const MAX_SIZE = 4096;

interface Drawable {
  depth: number;
  svg: string;
  prerender?: boolean;
  contains?: (x: number, y: number) => boolean;
  bbox?: [number, number, number, number];
  label?: 'person' | 'cart';
  trackId?: number;
  figure?: Figure;
  anchor?: Pt;
}

/** Ids shared by the tracks in the ground truth. */
function frameFile(i: number): string {
  return `frames/${String(i).padStart(6, '0')}.jpg`;
}

export class SequenceRenderer {
  readonly conditions: Conditions;
  readonly cam: Camera;
  private readonly world: World;
  private readonly instance: SceneInstance;
  private readonly normZones: { id: string; kind: string; poly: [number, number][] }[];
  private readonly normLines: {
    id: string;
    a: [number, number];
    b: [number, number];
    in: [number, number];
  }[];
  /**
   * The scene's background SVG, drawn once. A scene may take its colours from the random stream that
   * also times its arrivals, so it is drawn at the same point whether or not frames are encoded:
   * a truth-only run (`frame(i, false)`) simulates the same floor as a rendered one.
   */
  private backgroundSvg?: string;
  private background?: Promise<Buffer>;
  private readonly layers = new Map<string, Promise<Buffer>>();
  private gain?: Float32Array;
  private simFrame = -1;
  private prevAnchors = new Map<number, [number, number]>();
  private openVisits = new Map<string, GtZoneVisit>();
  readonly crossings: GtLineCrossing[] = [];
  readonly visits: GtZoneVisit[] = [];
  private readonly seenTracks = new Set<number>();
  private readonly maxOcc: Record<string, number> = {};
  private readonly maxQueue: Record<string, number> = {};
  readonly startEpochMs: number;

  constructor(readonly opts: SequenceOptions) {
    validateSequenceOptions(opts);
    const def = scenes[opts.scene];
    this.conditions = chooseConditions(
      opts.seed,
      opts.width && opts.height ? { width: opts.width, height: opts.height } : undefined,
    );
    const rng = new Rng(opts.seed, opts.scene.length, 0x5ce);
    this.cam = new Camera(def.camera(rng.fork(1)), this.conditions.width, this.conditions.height);
    this.world = new World(rng.fork(2));
    this.instance = def.create({ cam: this.cam, rng: rng.fork(3), crowd: opts.crowd ?? 1 }, this.world);
    this.startEpochMs = opts.startEpochMs ?? DEFAULT_START_EPOCH_MS;
    this.normZones = this.instance.zones.map((z) => ({
      id: z.id,
      kind: z.kind,
      poly: this.cam.floorPolygonToNorm(z.floor),
    }));
    this.normLines = this.instance.lines.map((l) => {
      // Scenes place their lines inside the view; a line that reaches outside is cut at the frame.
      const [a, b] = clipSegment(this.cam.floorToNorm(l.a[0], l.a[1]), this.cam.floorToNorm(l.b[0], l.b[1]));
      const mid = this.cam.floorToNorm((l.a[0] + l.b[0]) / 2, (l.a[1] + l.b[1]) / 2);
      const ins = this.cam.floorToNorm(l.inside[0], l.inside[1]);
      const v: [number, number] = [ins[0] - mid[0], ins[1] - mid[1]];
      const n = Math.hypot(v[0], v[1]) || 1;
      return { id: l.id, a: roundPt(a), b: roundPt(b), in: [round4(v[0] / n), round4(v[1] / n)] };
    });
    for (const z of this.normZones) {
      this.maxOcc[z.id] = 0;
      if (z.kind === 'queue') this.maxQueue[z.id] = 0;
    }
    // Simulate the minutes before the first frame so the store is already busy.
    const warm = this.instance.prewarmSeconds;
    for (let t = 0; t < warm; t += 0.1) this.stepWorld(0.1);
  }

  describe(): SceneDescription {
    return {
      schemaVersion: 1,
      scene: this.opts.scene,
      seed: this.opts.seed,
      width: this.conditions.width,
      height: this.conditions.height,
      fps: this.opts.fps,
      frames: this.opts.frames,
      anchor: 'bottom-center',
      zones: this.normZones.map((z) => ({ id: z.id, kind: z.kind as 'area', polygon: z.poly })),
      lines: this.normLines.map((l) => ({ id: l.id, a: l.a, b: l.b, in: l.in })),
      conditions: { ...this.conditions, camera: this.cam.spec },
    };
  }

  header(): GtSequenceHeader {
    return {
      kind: 'sequence',
      schemaVersion: 1,
      scene: this.opts.scene,
      seed: this.opts.seed,
      frames: this.opts.frames,
      fps: this.opts.fps,
      width: this.conditions.width,
      height: this.conditions.height,
      startEpochMs: this.startEpochMs,
      labels: ['person', 'cart'],
    };
  }

  private stepWorld(dt: number): void {
    this.world.step(dt);
    this.instance.update(this.world, dt);
  }

  /**
   * Renders frame `index`. Frames must be requested in increasing order (the floor is simulated
   * forwards); skipping frames is allowed and gives the same bytes as rendering every frame.
   * With `encode: false` only the ground truth is computed.
   */
  async frame(index: number, encode = true): Promise<RenderedFrame> {
    if (index <= this.simFrame)
      throw new Error(`frames must be rendered in order (${index} after ${this.simFrame})`);
    const dt = 1 / this.opts.fps;
    while (this.simFrame < index) {
      // Sub-steps of at most 0.1 s keep walking and queueing the same whatever the frame rate.
      const n = Math.ceil(dt / 0.1);
      for (let i = 0; i < n; i++) this.stepWorld(dt / n);
      this.simFrame++;
      const items = this.drawables();
      const truth = this.truthOf(this.simFrame, items);
      if (this.simFrame === index) {
        this.backgroundSvg ??= this.instance.background();
        const jpeg = encode ? await this.encode(index, items, this.backgroundSvg) : Buffer.alloc(0);
        return { index, jpeg, truth };
      }
    }
    throw new Error('unreachable');
  }

  /** All frames, in order. */
  async *frames(): AsyncGenerator<RenderedFrame> {
    for (let i = 0; i < this.opts.frames; i++) yield await this.frame(i);
  }

  /** Sequence-level ground truth, complete once every frame has been rendered (or skipped). */
  finish(): { crossings: GtLineCrossing[]; visits: GtZoneVisit[]; summary: GtSummary } {
    const visits = [...this.visits, ...this.openVisits.values()].sort(
      (a, b) => a.enterFrame - b.enterFrame || a.trackId - b.trackId || a.zoneId.localeCompare(b.zoneId),
    );
    const crossings: GtSummary['crossings'] = {};
    for (const l of this.normLines) crossings[l.id] = { in: 0, out: 0 };
    for (const c of this.crossings) (crossings[c.lineId] as { in: number; out: number })[c.direction]++;
    return {
      crossings: this.crossings,
      visits,
      summary: {
        kind: 'summary',
        tracks: this.seenTracks.size,
        crossings,
        maxOccupancy: this.maxOcc,
        maxQueue: this.maxQueue,
      },
    };
  }

  private personPose(a: Agent): {
    feet: Pt;
    up: Pt;
    right: Pt;
    sideways: number;
    facing: boolean;
    dir: number;
  } {
    const cam = this.cam;
    const feet = cam.project([a.x, 0, a.z]);
    const head = cam.project([a.x, a.app.heightM, a.z]);
    const h = a.app.heightM;
    const up: Pt = [(head[0] - feet[0]) / h, (head[1] - feet[1]) / h];
    const s = cam.scaleAt([a.x, h / 2, a.z]);
    const n = Math.hypot(up[0], up[1]) || 1;
    const right: Pt = [(-up[1] / n) * s, (up[0] / n) * s];
    const vx = a.x - cam.spec.x;
    const vz = a.z - cam.spec.z;
    const vn = Math.hypot(vx, vz) || 1;
    const sideways = Math.abs((a.hx * vz - a.hz * vx) / vn);
    const facing = a.hx * vx + a.hz * vz < 0;
    const ahead = cam.project([a.x + a.hx * 0.3, 0, a.z + a.hz * 0.3]);
    const dir = ahead[0] >= feet[0] ? 1 : -1;
    return { feet, up, right, sideways, facing, dir };
  }

  private drawables(): Drawable[] {
    const cam = this.cam;
    const out: Drawable[] = [];
    const w = cam.width;
    const h = cam.height;
    const visibleBox = (f: Figure) => {
      const [x1, y1, x2, y2] = f.bounds();
      return x2 > 0 && y2 > 0 && x1 < w && y1 < h;
    };
    for (const a of this.world.agents) {
      if (cam.depth([a.x, 0, a.z]) < 0.4) continue;
      const p = this.personPose(a);
      const fig = personFigure(a.app, {
        feet: p.feet,
        up: p.up,
        right: p.right,
        sideways: p.sideways,
        facingCamera: p.facing,
        phase: a.phase,
        stride: a.stride,
        dir: p.dir,
        reach: a.reach,
      });
      const prev = cam.project([a.px, 0, a.pz]);
      // Motion blur: how far the person moves in the image while the shutter is open, as a
      // Gaussian along the motion (sigma about half the smear).
      const k = this.conditions.shutterSeconds / this.world.lastDt / 2;
      const blur: Pt = [Math.abs(p.feet[0] - prev[0]) * k, Math.abs(p.feet[1] - prev[1]) * k];
      const depth = cam.depth([a.x, 0.9, a.z]);
      if (visibleBox(fig))
        out.push({
          depth,
          svg: fig.svg(blur, `b${a.id}`),
          contains: (x, y) => fig.contains(x, y),
          label: 'person',
          trackId: a.id,
          figure: fig,
          anchor: p.feet,
        });
      if (a.cart) {
        const cx = a.x + a.hx * 0.75;
        const cz = a.z + a.hz * 0.75;
        if (cam.depth([cx, 0, cz]) < 0.4) continue;
        const cf = cam.project([cx, 0, cz]);
        const ct = cam.project([cx, 1, cz]);
        const cs = cam.scaleAt([cx, 0.5, cz]);
        const cartFig = cartFigure(cf, [cs, 0], [ct[0] - cf[0], ct[1] - cf[1]], p.sideways, a.cart.color);
        if (visibleBox(cartFig))
          out.push({
            depth: cam.depth([cx, 0.5, cz]),
            svg: cartFig.svg(blur, `c${a.cart.id}`),
            contains: (x, y) => cartFig.contains(x, y),
            label: 'cart',
            trackId: a.cart.id,
            figure: cartFig,
            anchor: cf,
          });
      }
    }
    for (const s of this.instance.statics()) out.push(fromStatic(s));
    // Far things first; ties broken by track id so the order never depends on insertion.
    out.sort((a, b) => b.depth - a.depth || (a.trackId ?? 0) - (b.trackId ?? 0));
    return out;
  }

  private truthOf(frame: number, items: Drawable[]): GtFrame {
    const w = this.cam.width;
    const h = this.cam.height;
    const objects: GtObject[] = [];
    const S = 14;
    for (let i = 0; i < items.length; i++) {
      const it = items[i] as Drawable;
      if (!it.label || !it.figure || it.trackId === undefined) continue;
      const [bx1, by1, bx2, by2] = it.figure.bounds();
      const x1 = Math.max(0, bx1);
      const y1 = Math.max(0, by1);
      const x2 = Math.min(w, bx2);
      const y2 = Math.min(h, by2);
      if (x2 - x1 < 1 || y2 - y1 < 1) continue;
      // Visible fraction: sample the silhouette on a grid and test each sample against the
      // frame and every nearer item that overlaps it.
      const nearer = items.slice(i + 1).filter((o) => {
        if (!o.contains) return false;
        const b = o.figure?.bounds() ?? o.bbox;
        if (!b) return true;
        const [ox1, oy1, ox2, oy2] = b;
        return ox2 > bx1 && ox1 < bx2 && oy2 > by1 && oy1 < by2;
      });
      let total = 0;
      let seen = 0;
      for (let gy = 0; gy < S * 2; gy++) {
        const y = by1 + ((gy + 0.5) / (S * 2)) * (by2 - by1);
        for (let gx = 0; gx < S; gx++) {
          const x = bx1 + ((gx + 0.5) / S) * (bx2 - bx1);
          if (!it.figure.contains(x, y)) continue;
          total++;
          if (x < 0 || y < 0 || x >= w || y >= h) continue;
          let hidden = false;
          for (const o of nearer)
            if (o.contains?.(x, y)) {
              hidden = true;
              break;
            }
          if (!hidden) seen++;
        }
      }
      const visible = total ? seen / total : 0;
      if (visible <= 0) continue;
      objects.push({
        trackId: it.trackId,
        classId: it.label === 'person' ? 0 : 1,
        label: it.label,
        box: { x1: r1(x1), y1: r1(y1), x2: r1(x2), y2: r1(y2) },
        visible: Math.round(visible * 1000) / 1000,
        anchor: [r1(it.anchor?.[0] ?? (bx1 + bx2) / 2), r1(it.anchor?.[1] ?? by2)],
      });
    }
    objects.sort((a, b) => a.trackId - b.trackId);
    for (const o of objects) this.seenTracks.add(o.trackId);

    // Zones, queues and lines are judged on every person on the floor (hidden or not): the truth
    // is where people are, not what the camera happens to see.
    const t = (frame * 1000) / this.opts.fps;
    const occupancy: Record<string, number> = {};
    const queue: Record<string, number> = {};
    for (const z of this.normZones) occupancy[z.id] = 0;
    const inside = new Set<string>();
    const anchors = new Map<number, [number, number]>();
    for (const a of this.world.agents) {
      const [u, v] = this.cam.project([a.x, 0, a.z]);
      const n: [number, number] = [u / w, v / h];
      anchors.set(a.id, n);
      for (const z of this.normZones) {
        if (pointInPolygon(n[0], n[1], z.poly)) {
          occupancy[z.id] = (occupancy[z.id] ?? 0) + 1;
          inside.add(`${z.id}\u0000${a.id}`);
        }
      }
    }
    for (const z of this.normZones) {
      const c = occupancy[z.id] ?? 0;
      this.maxOcc[z.id] = Math.max(this.maxOcc[z.id] ?? 0, c);
      if (z.kind === 'queue') {
        queue[z.id] = c;
        this.maxQueue[z.id] = Math.max(this.maxQueue[z.id] ?? 0, c);
      }
    }
    // Zone visits: enter when the anchor goes in, exit when it leaves (or the person leaves the floor).
    for (const key of inside) {
      if (!this.openVisits.has(key)) {
        const [zoneId, id] = key.split('\u0000') as [string, string];
        this.openVisits.set(key, {
          kind: 'zone_visit',
          zoneId,
          trackId: Number(id),
          enterFrame: frame,
          enterT: t,
        });
      }
    }
    for (const [key, v] of this.openVisits) {
      if (inside.has(key)) continue;
      this.openVisits.delete(key);
      this.visits.push({ ...v, exitFrame: frame, exitT: t, dwellMs: t - v.enterT });
    }
    // Line crossings: the anchor's step from the previous frame intersects the segment.
    for (const [id, cur] of anchors) {
      const prev = this.prevAnchors.get(id);
      if (!prev) continue;
      for (const l of this.normLines) {
        if (!segmentsIntersect(prev, cur, l.a, l.b)) continue;
        const dot = (cur[0] - prev[0]) * l.in[0] + (cur[1] - prev[1]) * l.in[1];
        this.crossings.push({
          kind: 'line_crossing',
          lineId: l.id,
          trackId: id,
          frame,
          t,
          direction: dot > 0 ? 'in' : 'out',
        });
      }
    }
    this.prevAnchors = anchors;
    return { kind: 'frame', frame, t, file: frameFile(frame), objects, occupancy, queue };
  }

  private svgDoc(body: string): string {
    const { width, height } = this.cam;
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`;
  }

  private async encode(index: number, items: Drawable[], backgroundSvg: string): Promise<Buffer> {
    const { width, height } = this.cam;
    this.background ??= sharp(
      Buffer.from(
        `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${backgroundSvg}</svg>`,
      ),
    )
      .removeAlpha()
      .raw()
      .toBuffer();
    const bg = await this.background;
    // Consecutive SVG items become one overlay; pre-rendered furniture sits between them.
    const overlays: sharp.OverlayOptions[] = [];
    let pending: string[] = [];
    const flush = () => {
      if (pending.length)
        overlays.push({ input: Buffer.from(this.svgDoc(pending.join(''))), top: 0, left: 0 });
      pending = [];
    };
    for (const it of items) {
      if (!it.prerender) {
        pending.push(it.svg);
        continue;
      }
      flush();
      let layer = this.layers.get(it.svg);
      if (!layer) {
        layer = sharp(Buffer.from(this.svgDoc(it.svg)))
          .png({ compressionLevel: 0 })
          .toBuffer();
        this.layers.set(it.svg, layer);
      }
      overlays.push({ input: await layer, top: 0, left: 0 });
    }
    flush();
    const raw = await sharp(bg, { raw: { width, height, channels: 3 } })
      .composite(overlays)
      .removeAlpha()
      .raw()
      .toBuffer();
    this.applySensor(raw, index);
    return sharp(raw, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: this.conditions.jpegQuality })
      .toBuffer();
  }

  /** Light level, colour temperature, vignette, flicker and sensor noise, in place. */
  private applySensor(raw: Buffer, index: number): void {
    const { width, height } = this.cam;
    const c = this.conditions;
    if (!this.gain) {
      // Per-pixel gain: the light level with a vignette and a soft pool of light from above.
      const g = new Float32Array(width * height);
      const rng = new Rng(this.opts.seed, 0x11);
      const px = rng.uniform(0.2, 0.8) * width;
      const py = rng.uniform(0.1, 0.6) * height;
      const pr = rng.uniform(0.3, 0.7) * width;
      const pool = rng.uniform(0, 0.25);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const nx = (x - width / 2) / (width / 2);
          const ny = (y - height / 2) / (height / 2);
          const r2 = (nx * nx + ny * ny) / 2;
          const d2 = ((x - px) ** 2 + (y - py) ** 2) / (pr * pr);
          g[y * width + x] = c.light * (1 - c.vignette * r2) * (1 + pool * Math.exp(-d2));
        }
      }
      this.gain = g;
    }
    const gain = this.gain;
    const rng = new Rng(this.opts.seed, index, 0x0e);
    const flick = 1 + c.flicker * Math.sin(index * 2.1 + this.opts.seed);
    const [tr, tg, tb] = c.tint;
    const noise = new Float32Array(4096);
    for (let i = 0; i < noise.length; i++) noise[i] = rng.normal(0, c.noise);
    let j = rng.int(0, 4095);
    const step = 1 + rng.int(0, 6) * 2;
    for (let p = 0, i = 0; p < gain.length; p++, i += 3) {
      const k = (gain[p] as number) * flick;
      j = (j + step) & 4095;
      const n0 = noise[j] as number;
      const n1 = noise[(j + 1365) & 4095] as number;
      const n2 = noise[(j + 2730) & 4095] as number;
      raw[i] = clamp8((raw[i] as number) * k * tr + n0);
      raw[i + 1] = clamp8((raw[i + 1] as number) * k * tg + n1);
      raw[i + 2] = clamp8((raw[i + 2] as number) * k * tb + n2);
    }
  }
}

function fromStatic(s: StaticItem): Drawable {
  const d: Drawable = { depth: s.depth, svg: s.svg };
  if (s.prerender) d.prerender = true;
  if (s.contains) d.contains = s.contains;
  if (s.bbox) d.bbox = s.bbox;
  if (s.labelled) {
    const fig = s.labelled.figure;
    const [x1, , x2, y2] = fig.bounds();
    Object.assign(d, {
      label: s.labelled.label,
      trackId: s.labelled.trackId,
      figure: fig,
      anchor: [(x1 + x2) / 2, y2] as Pt,
    });
  }
  return d;
}

const clamp8 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v + 0.5) | 0;
const r1 = (n: number) => Math.round(n * 10) / 10;
const round4 = (n: number) => Math.round(n * 10000) / 10000;
const roundPt = (p: [number, number]): [number, number] => [
  round4(Math.min(1, Math.max(0, p[0]))),
  round4(Math.min(1, Math.max(0, p[1]))),
];

/** Liang–Barsky: the part of segment a–b inside the unit square (a degenerate one when none is). */
function clipSegment(a: [number, number], b: [number, number]): [[number, number], [number, number]] {
  let t0 = 0;
  let t1 = 1;
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const checks: [number, number][] = [
    [-dx, a[0]],
    [dx, 1 - a[0]],
    [-dy, a[1]],
    [dy, 1 - a[1]],
  ];
  for (const [p, q] of checks) {
    if (p === 0) continue;
    const r = q / p;
    if (p < 0) t0 = Math.max(t0, r);
    else t1 = Math.min(t1, r);
  }
  if (t0 > t1) return [a, a];
  return [
    [a[0] + t0 * dx, a[1] + t0 * dy],
    [a[0] + t1 * dx, a[1] + t1 * dy],
  ];
}

function segmentsIntersect(
  p: [number, number],
  q: [number, number],
  a: [number, number],
  b: [number, number],
) {
  const o = (u: [number, number], v: [number, number], w: [number, number]) =>
    Math.sign((v[0] - u[0]) * (w[1] - u[1]) - (v[1] - u[1]) * (w[0] - u[0]));
  const o1 = o(p, q, a);
  const o2 = o(p, q, b);
  const o3 = o(a, b, p);
  const o4 = o(a, b, q);
  // A step that ends exactly on the line counts when it leaves it on the other side; strict
  // signs avoid counting one step twice.
  return o1 !== o2 && o3 !== o4 && o3 !== 0;
}

export class SimulationInputError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SimulationInputError';
  }
}

export function validateSequenceOptions(o: SequenceOptions): void {
  if (!(o.scene in scenes))
    throw new SimulationInputError(
      'SIM_ERR_UNKNOWN_SCENE',
      `unknown scene "${o.scene}" (known: ${Object.keys(scenes).join(', ')})`,
    );
  if (!Number.isSafeInteger(o.seed) || o.seed < 0 || o.seed > 2 ** 31 - 1)
    throw new SimulationInputError('SIM_ERR_BAD_SEED', `seed must be an integer from 0 to ${2 ** 31 - 1}`);
  if (!Number.isInteger(o.frames) || o.frames < 1 || o.frames > 1_000_000)
    throw new SimulationInputError('SIM_ERR_BAD_FRAMES', 'frames must be an integer from 1 to 1000000');
  if (!(o.fps > 0 && o.fps <= 120))
    throw new SimulationInputError('SIM_ERR_BAD_FPS', 'fps must be above 0 and at most 120');
  if ((o.width === undefined) !== (o.height === undefined))
    throw new SimulationInputError('SIM_ERR_BAD_SIZE', 'give both width and height, or neither');
  if (o.crowd !== undefined && !(o.crowd >= 0 && o.crowd <= 10))
    throw new SimulationInputError('SIM_ERR_BAD_CROWD', 'crowd must be from 0 to 10');
  for (const [k, v] of [
    ['width', o.width],
    ['height', o.height],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < MIN_SIZE || v > MAX_SIZE))
      throw new SimulationInputError(
        'SIM_ERR_BAD_SIZE',
        `${k} must be an integer from ${MIN_SIZE} to ${MAX_SIZE} px`,
      );
  }
}
