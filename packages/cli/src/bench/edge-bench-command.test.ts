import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerBench } from '../commands/bench.ts';

describe('storevision bench edge --help', () => {
  it('lists every option the benchmark takes, with the documented defaults', () => {
    const program = new Command('storevision');
    registerBench(program);
    const edge = program.commands
      .find((c) => c.name() === 'bench')!
      .commands.find((c) => c.name() === 'edge')!;
    const help = edge.helpInformation();
    for (const opt of edge.options) expect(help).toContain(opt.flags);
    for (const flag of [
      '--quick',
      '--json',
      '--save',
      '--seconds',
      '--cameras',
      '--resolutions',
      '--frames',
      '--bare-layouts',
      '--no-yolo',
      '--edge-threads',
    ])
      expect(help).toContain(flag);
    expect(help).toMatch(/--cameras <list>\s+camera counts of the throughput runs \(default:\s+"4,8,16"\)/);
    expect(help).toMatch(/--resolutions <list>[\s\S]*"1280x720,1920x1080"/);
  });
});
