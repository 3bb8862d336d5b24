/**
 * `entrance`: a steep camera above the inside of the store's door. Shoppers come in through the
 * doorway and walk under the camera into the store; others leave the same way. The door line on
 * the floor counts footfall in both directions.
 */

import { box3d, polygon3d, shade, tiledFloor } from '../draw.ts';
import { cartFigure, personFigure, pointInPolygon } from '../figure.ts';
import { Arrivals, type SceneDefinition, type StaticItem } from '../scene.ts';
import type { FloorPt, Task } from '../world.ts';

const WALL_Z = 4.2;
const DOOR_HALF = 1.2;

export const entrance: SceneDefinition = {
  name: 'entrance',
  describe: 'steep camera over the door; people cross the door line in both directions',
  camera: (rng) => ({
    x: rng.uniform(-0.3, 0.3),
    height: rng.uniform(3.0, 3.4),
    z: 0,
    pitchDeg: rng.uniform(46, 56),
    hfovDeg: rng.uniform(84, 96),
  }),
  create({ cam, rng, crowd }, world) {
    const floorColor = rng.pick(['#b9b2a5', '#a7a9ad', '#c8c1b3', '#8f8a80']);
    const wallColor = rng.pick(['#d8d4cc', '#c9d1d8', '#e6e0d4', '#b7b1a8']);
    const matColor = rng.pick(['#3a3a3a', '#4a3b32', '#2f3b48']);
    const meanInterval = rng.uniform(2.5, 5);
    const parked = rng.int(0, 2);
    const withMannequin = rng.chance(0.7);
    const inbound = new Arrivals(rng, () => meanInterval, 0, crowd);
    const outbound = new Arrivals(rng, () => meanInterval * 1.1, 0, crowd);

    const statics: StaticItem[] = [];
    // The back wall with the doorway cut out: people outside are seen only through the door.
    const wallPts = (x0: number, x1: number, y0: number, y1: number) =>
      [
        [x0, y0, WALL_Z],
        [x1, y0, WALL_Z],
        [x1, y1, WALL_Z],
        [x0, y1, WALL_Z],
      ] as [number, number, number][];
    const outer = wallPts(-8, 8, 0, 3.2).map((p) => cam.project(p));
    const hole = wallPts(-DOOR_HALF, DOOR_HALF, 0, 2.3).map((p) => cam.project(p));
    const p = (pts: [number, number][]) =>
      `M${pts.map((q) => `${q[0].toFixed(1)} ${q[1].toFixed(1)}`).join('L')}Z`;
    const posterX = rng.uniform(1.8, 3.2) * (rng.chance(0.5) ? 1 : -1);
    const poster = [
      polygon3d(
        cam,
        [
          [posterX - 0.5, 0.7, WALL_Z - 0.01],
          [posterX + 0.5, 0.7, WALL_Z - 0.01],
          [posterX + 0.5, 2.3, WALL_Z - 0.01],
          [posterX - 0.5, 2.3, WALL_Z - 0.01],
        ],
        rng.pick(['#f4d03f', '#e74c3c', '#5dade2', '#f5f5f5']),
      ),
    ];
    // A flat, person-shaped figure printed on the poster: a distractor, not a person.
    const ps = cam.scaleAt([posterX, 1.5, WALL_Z]);
    const pf = cam.project([posterX, 0.85, WALL_Z]);
    const pu = cam.project([posterX, 1.85, WALL_Z]);
    const printed = personFigure(
      {
        heightM: 1.3,
        build: 1,
        skin: '#333333',
        hair: '#333333',
        hairStyle: 'short',
        capColor: '#333333',
        top: '#333333',
        longSleeves: true,
        bottom: '#333333',
        skirt: false,
        shoes: '#333333',
        carry: 'none',
        carryColor: '#333333',
      },
      {
        feet: pf,
        up: [(pu[0] - pf[0]) / 1.3, (pu[1] - pf[1]) / 1.3],
        right: [ps * 0.8, 0],
        sideways: 0,
        facingCamera: false,
        phase: 0,
        stride: 0,
        dir: 1,
        reach: 0,
      },
    );
    poster.push(printed.svg());
    const frame = `<path d="${p(hole)}" fill="none" stroke="#555b61" stroke-width="${(cam.scaleAt([0, 1, WALL_Z]) * 0.08).toFixed(1)}"/>`;
    statics.push({
      depth: cam.depth([0, 1.5, WALL_Z]),
      svg: `<path d="${p(outer)}${p(hole)}" fill="${wallColor}" fill-rule="evenodd"/>${poster.join('')}${frame}`,
      contains: (x, y) => pointInPolygon(x, y, outer) && !pointInPolygon(x, y, hole),
    });
    // Anti-theft gates either side of the door: tall thin pedestals.
    for (const gx of [-DOOR_HALF - 0.25, DOOR_HALF + 0.25]) {
      const g = box3d(
        cam,
        [gx - 0.05, gx + 0.05],
        [0, 1.5],
        [WALL_Z - 0.7, WALL_Z - 0.45],
        '#cfd6dc',
        ' fill-opacity="0.9"',
      );
      statics.push({
        depth: cam.depth([gx, 0.75, WALL_Z - 0.7]),
        svg: g.svg,
        contains: g.contains,
        bbox: g.bbox,
      });
    }
    if (withMannequin) {
      const mx = rng.uniform(2.6, 3.6) * (posterX > 0 ? -1 : 1);
      const mz = WALL_Z - rng.uniform(0.6, 1.4);
      const ped = box3d(cam, [mx - 0.3, mx + 0.3], [0, 0.2], [mz - 0.3, mz + 0.3], '#8e8e8e');
      const feet = cam.project([mx, 0.2, mz]);
      const head = cam.project([mx, 1.95, mz]);
      const color = rng.pick(['#e8e2d6', '#f2f2f2', '#c9b8a0', '#2b2b2b']);
      const m = personFigure(
        {
          heightM: 1.75,
          build: 0.9,
          skin: color,
          hair: color,
          hairStyle: 'bald',
          capColor: color,
          top: rng.pick([color, '#7d3c98', '#1f618d']),
          longSleeves: false,
          bottom: color,
          skirt: rng.chance(0.4),
          shoes: color,
          carry: 'none',
          carryColor: color,
        },
        {
          feet,
          up: [(head[0] - feet[0]) / 1.75, (head[1] - feet[1]) / 1.75],
          right: [cam.scaleAt([mx, 1, mz]), 0],
          sideways: 0.2,
          facingCamera: false,
          phase: 0,
          stride: 0,
          dir: 1,
          reach: 0,
        },
      );
      statics.push({
        depth: cam.depth([mx, 0.5, mz]),
        svg: ped.svg + m.svg(),
        contains: (x, y) => ped.contains(x, y) || m.contains(x, y),
      });
    }
    for (let i = 0; i < parked; i++) {
      const cx = (posterX > 0 ? 1 : -1) * rng.uniform(2.2, 4.2);
      const cz = rng.uniform(1.8, WALL_Z - 0.5);
      const feet = cam.project([cx, 0, cz]);
      const top = cam.project([cx, 1, cz]);
      const fig = cartFigure(
        feet,
        [cam.scaleAt([cx, 0.5, cz]), 0],
        [top[0] - feet[0], top[1] - feet[1]],
        rng.uniform(0, 1),
        rng.pick(['#c0392b', '#2471a3', '#7f8c8d']),
      );
      statics.push({
        depth: cam.depth([cx, 0.5, cz]),
        svg: fig.svg(),
        contains: (x, y) => fig.contains(x, y),
        labelled: { label: 'cart', trackId: world.newId(), figure: fig },
      });
    }

    const doorX = () => rng.uniform(-DOOR_HALF + 0.35, DOOR_HALF - 0.35);
    const insideSpot = (): FloorPt =>
      rng.pick<FloorPt>([
        [rng.uniform(-4.5, 4.5), -0.4],
        [-6, rng.uniform(1, 3.5)],
        [6, rng.uniform(1, 3.5)],
      ]);
    const outsideSpot = (): FloorPt => [rng.uniform(-5, 5), 8];

    const comeIn = () => {
      const x = doorX();
      const tasks: Task[] = [
        { kind: 'walk', to: [x + rng.uniform(-0.2, 0.2), WALL_Z + 0.5] },
        { kind: 'walk', to: [x, WALL_Z - 1.3] },
      ];
      if (rng.chance(0.25))
        tasks.push({ kind: 'wait', seconds: rng.uniform(1, 4), face: [rng.uniform(-4, 4), 1] });
      tasks.push({ kind: 'walk', to: insideSpot() });
      const start = outsideSpot();
      world.spawn(start, tasks, { cart: rng.chance(0.12) });
      if (rng.chance(0.25)) {
        // Walking together: a companion a little to the side and behind.
        world.spawn(
          [start[0] + 0.55, start[1] + 0.4],
          tasks.map((t) =>
            t.kind === 'walk' ? { ...t, to: [t.to[0] + 0.55, t.to[1] + 0.35] as FloorPt } : t,
          ),
        );
      }
    };
    const goOut = () => {
      const x = doorX();
      const tasks: Task[] = [
        { kind: 'walk', to: [x, WALL_Z - 1.3] },
        { kind: 'walk', to: [x + rng.uniform(-0.2, 0.2), WALL_Z + 0.6] },
        { kind: 'walk', to: outsideSpot() },
      ];
      world.spawn(insideSpot(), tasks, { cart: rng.chance(0.1) });
    };

    return {
      prewarmSeconds: 25,
      zones: [
        {
          id: 'entrance-hall',
          kind: 'area',
          floor: [
            [-2.6, 1.2],
            [2.6, 1.2],
            [2.6, WALL_Z - 0.1],
            [-2.6, WALL_Z - 0.1],
          ],
        },
        {
          id: 'doorway',
          kind: 'door',
          floor: [
            [-DOOR_HALF - 0.3, WALL_Z - 1.1],
            [DOOR_HALF + 0.3, WALL_Z - 1.1],
            [DOOR_HALF + 0.3, WALL_Z - 0.1],
            [-DOOR_HALF - 0.3, WALL_Z - 0.1],
          ],
        },
      ],
      lines: [
        {
          id: 'door',
          a: [-DOOR_HALF - 0.4, WALL_Z - 0.7],
          b: [DOOR_HALF + 0.4, WALL_Z - 0.7],
          inside: [0, 1.5],
        },
      ],
      background() {
        const outside = `<rect width="${cam.width}" height="${cam.height}" fill="${rng.pick(['#8d918f', '#a2a39b', '#7b8288'])}"/>`;
        const street = tiledFloor(cam, [-12, 12], [WALL_Z, 30], '#9a9a94', 1.2, '#8a8a84');
        const floor = tiledFloor(cam, [-8, 8], [0.05, WALL_Z], floorColor, 0.6, shade(floorColor, 0.85));
        const mat = polygon3d(
          cam,
          [
            [-DOOR_HALF - 0.1, 0.005, WALL_Z - 1.3],
            [DOOR_HALF + 0.1, 0.005, WALL_Z - 1.3],
            [DOOR_HALF + 0.1, 0.005, WALL_Z - 0.05],
            [-DOOR_HALF - 0.1, 0.005, WALL_Z - 0.05],
          ],
          matColor,
        );
        return outside + street + floor + mat;
      },
      statics: () => statics,
      update(w) {
        inbound.due(w.time, comeIn);
        outbound.due(w.time, goOut);
      },
    };
  },
};
