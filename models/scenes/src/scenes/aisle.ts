/**
 * `aisle`: an angled ceiling camera looking down a shelf aisle. Shoppers walk along it, stop to
 * browse the shelves (reaching for products), some push carts; far shoppers are small.
 */

import { bboxOf, box3d, polygon3d, shade, shelfFace, tiledFloor } from '../draw.ts';
import { personFigure } from '../figure.ts';
import { Arrivals, type SceneDefinition, type StaticItem } from '../scene.ts';
import type { FloorPt, Task } from '../world.ts';

const HALF = 1.25;
const END = 15.5;

export const aisle: SceneDefinition = {
  name: 'aisle',
  describe: 'angled camera along shelves; people walk, stop and browse',
  camera: (rng) => ({
    x: rng.uniform(-0.35, 0.35),
    height: rng.uniform(2.7, 3.1),
    z: 0,
    pitchDeg: rng.uniform(21, 30),
    hfovDeg: rng.uniform(66, 80),
  }),
  create({ cam, rng, crowd }, world) {
    const floorColor = rng.pick(['#d9d5cc', '#c4c7cb', '#e3dccf', '#b8b4ab']);
    const shelfColor = rng.pick(['#7a7f87', '#d0d3d8', '#5b4a3a']);
    const palette = [
      '#c0392b',
      '#e67e22',
      '#f1c40f',
      '#27ae60',
      '#2980b9',
      '#8e44ad',
      '#ecf0f1',
      '#34495e',
      '#d35400',
      '#16a085',
    ];
    const productRng = rng.fork(17);
    const productColor = () => productRng.pick(palette);
    const meanInterval = rng.uniform(4, 8);
    const arrivals = new Arrivals(rng, () => meanInterval, 0, crowd);

    const statics: StaticItem[] = [];
    // The shelf runs hide shoppers walking the cross aisle behind them; anyone in the aisle itself
    // is nearer than the far end of the shelves and never overlaps them in the picture.
    const shelfH = rng.uniform(1.8, 2.1);
    const left = box3d(cam, [-HALF - 0.9, -HALF], [0, shelfH], [1, END], shelfColor);
    const right = box3d(cam, [HALF, HALF + 0.9], [0, shelfH], [1, END], shelfColor);
    const faceL = shelfFace(cam, -HALF, [1, END], shelfH, productColor, -1);
    const faceR = shelfFace(cam, HALF, [1, END], shelfH, productColor, 1);
    statics.push({
      depth: cam.depth([0, shelfH / 2, END]),
      svg: left.svg + faceL + right.svg + faceR,
      prerender: true,
      contains: (x, y) => left.contains(x, y) || right.contains(x, y),
      bbox: bboxOf([...left.hull, ...right.hull]),
    });
    // A cardboard standee of a person at the end of the aisle: a distractor.
    const sx = rng.uniform(-0.9, 0.9);
    const sz = rng.uniform(END - 1.5, END - 0.3);
    const feet = cam.project([sx, 0, sz]);
    const head = cam.project([sx, 1.7, sz]);
    const standee = personFigure(
      {
        heightM: 1.7,
        build: 1,
        skin: '#f5cba7',
        hair: '#784212',
        hairStyle: 'long',
        capColor: '#000000',
        top: rng.pick(['#e74c3c', '#f39c12', '#1abc9c']),
        longSleeves: false,
        bottom: '#f7f9f9',
        skirt: true,
        shoes: '#f7f9f9',
        carry: 'none',
        carryColor: '#000000',
      },
      {
        feet,
        up: [(head[0] - feet[0]) / 1.7, (head[1] - feet[1]) / 1.7],
        right: [cam.scaleAt([sx, 1, sz]), 0],
        sideways: 0,
        facingCamera: true,
        phase: 0,
        stride: 0,
        dir: 1,
        reach: 0,
      },
    );
    const board = box3d(cam, [sx - 0.45, sx + 0.45], [0, 1.95], [sz, sz + 0.03], '#f8f9f9');
    const base = box3d(cam, [sx - 0.25, sx + 0.25], [0, 0.05], [sz - 0.2, sz + 0.1], '#555555');
    if (rng.chance(0.75)) {
      statics.push({
        depth: cam.depth([sx, 0.9, sz]),
        svg: board.svg + standee.svg() + base.svg,
        contains: board.contains,
        bbox: board.bbox,
      });
    }

    const lane = () => rng.uniform(-0.5, 0.5);
    const plan = (): { start: FloorPt; tasks: Task[] } => {
      const fromNear = rng.chance(0.55);
      const start: FloorPt = fromNear ? [lane(), -0.5] : [rng.pick([-3.2, 3.2]), END + rng.uniform(0.3, 1.2)];
      const tasks: Task[] = [];
      if (!fromNear) tasks.push({ kind: 'walk', to: [lane(), END - 0.5] });
      const stops = rng.int(0, 3);
      const zs = Array.from({ length: stops }, () => rng.uniform(2.5, END - 1.5)).sort((a, b) =>
        fromNear ? a - b : b - a,
      );
      for (const z of zs) {
        const side = rng.chance(0.5) ? -1 : 1;
        tasks.push({ kind: 'walk', to: [side * rng.uniform(0.6, 0.9), z] });
        tasks.push({
          kind: 'wait',
          seconds: rng.uniform(3, 18),
          face: [side * 3, z],
          reach: rng.chance(0.7),
        });
      }
      const leaveNear = rng.chance(0.5);
      if (leaveNear) tasks.push({ kind: 'walk', to: [lane(), -0.5] });
      else {
        tasks.push({ kind: 'walk', to: [lane(), END + 0.5] });
        tasks.push({ kind: 'walk', to: [rng.pick([-3.2, 3.2]), END + rng.uniform(0.3, 1.2)] });
      }
      return { start, tasks };
    };
    const arrive = () => {
      const { start, tasks } = plan();
      world.spawn(start, tasks, { cart: rng.chance(0.3) });
    };

    return {
      prewarmSeconds: 40,
      zones: [
        {
          id: 'aisle',
          kind: 'area',
          floor: [
            [-HALF, 3],
            [HALF, 3],
            [HALF, END],
            [-HALF, END],
          ],
        },
        {
          id: 'shelf-left',
          kind: 'shelf',
          floor: [
            [-HALF, 4],
            [-0.4, 4],
            [-0.4, 10],
            [-HALF, 10],
          ],
        },
        {
          id: 'shelf-right',
          kind: 'shelf',
          floor: [
            [0.4, 4],
            [HALF, 4],
            [HALF, 10],
            [0.4, 10],
          ],
        },
      ],
      lines: [{ id: 'aisle-entry', a: [-HALF, 3], b: [HALF, 3], inside: [0, 4] }],
      background() {
        const wall = polygon3d(
          cam,
          [
            [-8, 0, END + 2],
            [8, 0, END + 2],
            [8, 3.2, END + 2],
            [-8, 3.2, END + 2],
          ],
          rng.pick(['#e5e1d8', '#d6dde3', '#f0ebe0']),
        );
        const ceiling = `<rect width="${cam.width}" height="${cam.height}" fill="#ecebe7"/>`;
        const floor = tiledFloor(cam, [-8, 8], [0.05, END + 2], floorColor, 0.6, shade(floorColor, 0.9));
        // Far wall displays and a poster.
        const display = box3d(cam, [-3, -1.6], [0, 1.2], [END + 1.2, END + 1.9], '#a04000').svg;
        const poster = polygon3d(
          cam,
          [
            [1.2, 1.0, END + 1.99],
            [2.6, 1.0, END + 1.99],
            [2.6, 2.6, END + 1.99],
            [1.2, 2.6, END + 1.99],
          ],
          rng.pick(['#f4d03f', '#5dade2', '#ec7063']),
        );
        return ceiling + wall + floor + display + poster;
      },
      statics: () => statics,
      update(w) {
        arrivals.due(w.time, arrive);
      },
    };
  },
};
