/**
 * `checkout`: a camera facing a checkout counter. Customers arrive in bursts, queue along a
 * lane, are served by the cashier behind the counter, and leave past the exit line.
 */
import { bboxOf, box3d, polygon3d, shade, tiledFloor } from '../draw.ts';
import { Arrivals, type SceneDefinition, type StaticItem } from '../scene.ts';
import type { Agent, FloorPt } from '../world.ts';

/** The floor around the queue lane, from the first waiting slot to the tenth. */
function queueFloor(first: FloorPt, last: FloorPt): FloorPt[] {
  return [
    [first[0] + 0.35, first[1] + 0.45],
    [last[0] - 0.3, last[1] + 0.45],
    [last[0] - 0.3, last[1] - 0.55],
    [first[0] + 0.35, first[1] - 0.55],
  ];
}

const COUNTER_Z: [number, number] = [5.4, 6.0];
const SERVE: FloorPt = [0.75, 4.85];

export const checkout: SceneDefinition = {
  name: 'checkout',
  describe: 'a queue forms and drains at a counter',
  camera: (rng) => ({
    x: rng.uniform(-0.5, 0.5),
    height: rng.uniform(2.5, 2.9),
    z: 0,
    pitchDeg: rng.uniform(26, 34),
    hfovDeg: rng.uniform(72, 84),
  }),
  create({ cam, rng, crowd }, world) {
    const floorColor = rng.pick(['#cfc9bd', '#b9bcc0', '#ddd6c8']);
    const counterColor = rng.pick(['#7b5e43', '#5d6d7e', '#a9a9a9', '#2e4053']);
    const slotDx = -rng.uniform(0.58, 0.68);
    const slotDz = -rng.uniform(0.15, 0.32);
    const slot = (k: number): FloorPt =>
      k === 0 ? SERVE : [SERVE[0] + 0.1 + slotDx * k, SERVE[1] + slotDz * k];
    const period = rng.uniform(60, 150);
    const phase = rng.uniform(0, Math.PI * 2);
    const base = rng.uniform(5, 9);
    // Mean service below the mean arrival interval (the queue drains) but above the peak one (it builds).
    const serviceMean = base * rng.uniform(0.6, 0.85);
    // Bursts: the arrival rate swings with the period, so the queue builds up and drains.
    const arrivals = new Arrivals(
      rng,
      (t) => base / (1 + 0.6 * Math.sin((2 * Math.PI * t) / period + phase)),
      0,
      crowd,
    );
    const passers = new Arrivals(rng, () => rng.uniform(8, 16), 0, crowd);
    const queue: Agent[] = [];
    let served = 0;
    let serviceTime = rng.uniform(0.5, 1.5) * serviceMean;

    const statics: StaticItem[] = [];
    const counter = box3d(cam, [-0.3, 1.9], [0, 0.95], COUNTER_Z, counterColor);
    const till = box3d(cam, [1.2, 1.55], [0.95, 1.3], [5.5, 5.75], '#1c2833');
    statics.push({
      depth: cam.depth([0.8, 0.5, COUNTER_Z[0]]),
      svg: counter.svg + till.svg,
      contains: (x, y) => counter.contains(x, y) || till.contains(x, y),
      bbox: bboxOf([...counter.hull, ...till.hull]),
    });
    // Queue-lane stanchions with belts: thin vertical posts that look a little like legs.
    const posts: FloorPt[] = [];
    for (let k = 1; k <= 8; k += 2) {
      const [x, z] = slot(k);
      posts.push([x, z + 0.5], [x, z - 0.5]);
    }
    for (const [x, z] of posts) {
      const post = box3d(cam, [x - 0.03, x + 0.03], [0, 0.95], [z - 0.03, z + 0.03], '#b3b6b7');
      statics.push({
        depth: cam.depth([x, 0.5, z]),
        svg: post.svg,
        contains: post.contains,
        bbox: post.bbox,
      });
    }
    const belt = (a: FloorPt, b: FloorPt) =>
      polygon3d(
        cam,
        [
          [a[0], 0.86, a[1]],
          [b[0], 0.86, b[1]],
          [b[0], 0.93, b[1]],
          [a[0], 0.93, a[1]],
        ],
        '#1f3a93',
      );
    for (let i = 0; i + 2 < posts.length; i += 2) {
      statics.push({
        depth: cam.depth([posts[i]?.[0] ?? 0, 0.9, (posts[i]?.[1] ?? 0) + 0.01]),
        svg:
          belt(posts[i] as FloorPt, posts[i + 2] as FloorPt) +
          belt(posts[i + 1] as FloorPt, posts[i + 3] as FloorPt),
      });
    }

    // The cashier stands behind the counter all day.
    const cashier = world.spawn([0.8, 6.55], [], { resident: true, speed: 0.5 });
    cashier.hx = 0;
    cashier.hz = -1;

    const passBy = () => {
      const z = rng.uniform(7, 8.6);
      const right = rng.chance(0.5);
      world.spawn([right ? -7 : 7, z], [{ kind: 'walk', to: [right ? 7 : -7, z + rng.uniform(-0.5, 0.5)] }], {
        cart: rng.chance(0.2),
      });
    };

    const join = () => {
      // Customers who see a queue that long go elsewhere (balking), so the lane stays in view.
      if (queue.length >= 9) return passBy();
      const agent = world.spawn(
        [-6.8, rng.uniform(5.5, 8)],
        [
          { kind: 'walk', to: [-3.5, rng.uniform(5.5, 6.5)] },
          {
            kind: 'follow',
            target: (a) => {
              const i = queue.indexOf(a);
              return i < 0 ? null : slot(i);
            },
          },
          { kind: 'walk', to: [2.8, rng.uniform(4.2, 4.9)] },
          { kind: 'walk', to: [7, rng.uniform(2.5, 4.5)] },
        ],
        { cart: rng.chance(0.2) },
      );
      queue.push(agent);
    };
    return {
      prewarmSeconds: 90,
      zones: [
        {
          id: 'queue',
          kind: 'queue',
          floor: queueFloor(slot(1), slot(9)),
        },
        {
          id: 'counter',
          kind: 'counter',
          floor: [
            [SERVE[0] - 0.45, SERVE[1] - 0.45],
            [SERVE[0] + 0.6, SERVE[1] - 0.45],
            [SERVE[0] + 0.6, COUNTER_Z[0] - 0.02],
            [SERVE[0] - 0.45, COUNTER_Z[0] - 0.02],
          ],
        },
      ],
      lines: [{ id: 'checkout-exit', a: [2.2, 3.4], b: [2.2, 5.35], inside: [3.2, 4.4] }],
      background() {
        const wallColor = rng.pick(['#e8e4da', '#d5dbdb', '#f2efe6']);
        const wall = polygon3d(
          cam,
          [
            [-9, 0, 9.5],
            [9, 0, 9.5],
            [9, 3.2, 9.5],
            [-9, 3.2, 9.5],
          ],
          wallColor,
        );
        const sky = `<rect width="${cam.width}" height="${cam.height}" fill="#efeeea"/>`;
        const floor = tiledFloor(cam, [-9, 9], [0.05, 9.5], floorColor, 0.5, shade(floorColor, 0.88));
        const shelves = [-5, -2.5, 3, 5.5]
          .map((x) => box3d(cam, [x - 0.9, x + 0.9], [0, 1.6], [9, 9.45], '#8d6e63').svg)
          .join('');
        const sign = polygon3d(
          cam,
          [
            [-0.2, 2.2, 9.45],
            [1.8, 2.2, 9.45],
            [1.8, 2.7, 9.45],
            [-0.2, 2.7, 9.45],
          ],
          '#c0392b',
        );
        return sky + wall + floor + shelves + sign;
      },
      statics: () => statics,
      update(w, dt) {
        arrivals.due(w.time, join);
        passers.due(w.time, passBy);
        const head = queue[0];
        if (head && Math.hypot(head.x - SERVE[0], head.z - SERVE[1]) < 0.1) {
          served += dt;
          if (served >= serviceTime) {
            queue.shift();
            served = 0;
            serviceTime = rng.exp(serviceMean) * 0.6 + serviceMean * 0.4;
          }
        }
        // The cashier shifts weight and turns a little while working.
        cashier.x = 0.8 + 0.15 * Math.sin(w.time * 0.4);
        cashier.reach = Math.max(0, Math.sin(w.time * 1.3));
      },
    };
  },
};
