/**
 * The simulated store floor: people who enter, walk, browse, queue, pay and leave, and the carts
 * they push. Positions are in floor metres; a scene turns them into pictures through its camera.
 */
import { type Appearance, randomAppearance, randomColor } from './figure.ts';
import type { Rng } from './rng.ts';

export type FloorPt = [number, number];

export type Task =
  | { kind: 'walk'; to: FloorPt }
  | { kind: 'wait'; seconds: number; face?: FloorPt; reach?: boolean }
  /** Walk towards a moving target (a queue slot) until it returns null. */
  | { kind: 'follow'; target: (agent: Agent) => FloorPt | null };

export interface Agent {
  id: number;
  app: Appearance;
  x: number;
  z: number;
  speed: number;
  /** Unit heading on the floor (last direction of motion or of attention). */
  hx: number;
  hz: number;
  moving: boolean;
  phase: number;
  stride: number;
  reach: number;
  tasks: Task[];
  waited: number;
  cart?: { id: number; color: string };
  /** Previous-step position, for motion blur. */
  px: number;
  pz: number;
  /** Static figures (e.g. a cashier) keep their place and never leave. */
  resident?: boolean;
}

export class World {
  readonly agents: Agent[] = [];
  time = 0;
  /** Length of the last step, so image speed (for motion blur) can be derived from px/pz. */
  lastDt = 0.1;
  private nextId = 1;

  constructor(readonly rng: Rng) {}

  newId(): number {
    return this.nextId++;
  }

  spawn(
    at: FloorPt,
    tasks: Task[],
    opts: { cart?: boolean; speed?: number; app?: Partial<Appearance>; resident?: boolean } = {},
  ): Agent {
    const app = { ...randomAppearance(this.rng), ...opts.app };
    const cart = opts.cart ? { id: this.newId(), color: randomColor(this.rng) } : undefined;
    if (cart) app.carry = 'none';
    const first = tasks[0];
    const to = first && first.kind === 'walk' ? first.to : at;
    const dx = to[0] - at[0];
    const dz = to[1] - at[1];
    const d = Math.hypot(dx, dz) || 1;
    const agent: Agent = {
      id: this.newId(),
      app,
      x: at[0],
      z: at[1],
      px: at[0],
      pz: at[1],
      speed: opts.speed ?? (cart ? this.rng.uniform(0.75, 1.1) : this.rng.uniform(0.9, 1.45)),
      hx: dx / d,
      hz: dz / d,
      moving: false,
      phase: this.rng.uniform(0, Math.PI * 2),
      stride: 0,
      reach: 0,
      tasks,
      waited: 0,
      ...(cart ? { cart } : {}),
      ...(opts.resident ? { resident: true } : {}),
    };
    this.agents.push(agent);
    return agent;
  }

  /** Advances the simulation by `dt` seconds. */
  step(dt: number): void {
    this.time += dt;
    this.lastDt = dt;
    for (const a of this.agents) {
      a.px = a.x;
      a.pz = a.z;
      this.stepAgent(a, dt);
    }
    for (let i = this.agents.length - 1; i >= 0; i--) {
      const a = this.agents[i] as Agent;
      if (a.tasks.length === 0 && !a.resident) this.agents.splice(i, 1);
    }
  }

  private moveTowards(a: Agent, to: FloorPt, dt: number): boolean {
    const dx = to[0] - a.x;
    const dz = to[1] - a.z;
    const d = Math.hypot(dx, dz);
    const stepLen = a.speed * dt;
    if (d <= Math.max(0.02, stepLen)) {
      a.x = to[0];
      a.z = to[1];
      return true;
    }
    a.x += (dx / d) * stepLen;
    a.z += (dz / d) * stepLen;
    // Headings turn smoothly rather than snapping.
    const k = Math.min(1, dt * 6);
    a.hx += (dx / d - a.hx) * k;
    a.hz += (dz / d - a.hz) * k;
    const n = Math.hypot(a.hx, a.hz) || 1;
    a.hx /= n;
    a.hz /= n;
    a.moving = true;
    return false;
  }

  private stepAgent(a: Agent, dt: number): void {
    a.moving = false;
    const task = a.tasks[0];
    let reach = 0;
    if (task) {
      if (task.kind === 'walk') {
        if (this.moveTowards(a, task.to, dt)) a.tasks.shift();
      } else if (task.kind === 'follow') {
        const target = task.target(a);
        if (target === null) a.tasks.shift();
        else this.moveTowards(a, target, dt);
      } else {
        a.waited += dt;
        if (task.face) {
          const dx = task.face[0] - a.x;
          const dz = task.face[1] - a.z;
          const d = Math.hypot(dx, dz) || 1;
          a.hx = dx / d;
          a.hz = dz / d;
        }
        if (task.reach) reach = Math.max(0, Math.sin((a.waited / task.seconds) * Math.PI * 3));
        if (a.waited >= task.seconds) {
          a.waited = 0;
          a.tasks.shift();
        }
      }
    }
    a.reach = reach;
    // Gait: about 0.7 m per step; the stride fades in and out as people start and stop.
    const target = a.moving ? Math.min(1, a.speed / 1.2) : 0;
    a.stride += (target - a.stride) * Math.min(1, dt * 5);
    if (a.moving) a.phase += (dt * a.speed * Math.PI) / 0.7;
  }
}
