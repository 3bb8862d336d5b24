import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerBench } from '../commands/bench.ts';

/** `storevision bench <name>` as registered, and its `--help` text. */
function benchCommand(name: string): { command: Command; help: string } {
  const program = new Command('storevision');
  registerBench(program);
  const command = program.commands
    .find((c) => c.name() === 'bench')!
    .commands.find((c) => c.name() === name)!;
  const help = command.helpInformation();
  // Every option the command takes is in its help.
  for (const opt of command.options) expect(help).toContain(opt.flags);
  return { command, help };
}

describe('storevision bench edge --help', () => {
  it('lists every option the benchmark takes, with the documented defaults', () => {
    const { help } = benchCommand('edge');
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

describe('storevision bench edge: options passed through to the edge', () => {
  it.each([
    ['--edge-runner-idle', '<ms>', "the edge's --runner-idle", ['-1', 'x', '1.5', '10001']],
    ['--edge-heap-growth', '<percent>', "the edge's --heap-growth", ['-1', 'x', '2.5', '401']],
  ])(
    '%s %s is described, and a bad value is refused before anything starts',
    async (option, arg, text, bads) => {
      const { command, help } = benchCommand('edge');
      expect(help).toContain(`${option} ${arg}`);
      expect(help).toContain(text);
      for (const bad of bads)
        await expect(command.parseAsync([option, bad, '--no-yolo'], { from: 'user' })).rejects.toMatchObject({
          code: 'CLI_ERR_USAGE',
          message: expect.stringContaining(option),
        });
    },
  );
});

describe('storevision bench outage --help', () => {
  it('lists every option of the soak, with an hour-long outage inside 70 simulated minutes by default', () => {
    const { command, help } = benchCommand('outage');
    for (const flag of ['--minutes', '--outage-minutes', '--fps', '--width', '--height', '--json', '--save'])
      expect(help).toContain(flag);
    expect(help).toMatch(/--minutes <n>\s+simulated minutes of each sequence \(default:\s+"70"\)/);
    expect(help).toMatch(/--outage-minutes <n>[\s\S]*\(default:\s+"60"\)/);
    expect(help).toMatch(/--entrance-seed <n>[\s\S]*"9108"/);
    expect(help).toMatch(/--checkout-seed <n>[\s\S]*"9104"/);
    // The example and what it does are in the text after the options.
    let after = '';
    command.configureOutput({ writeOut: (s) => (after += s) });
    command.outputHelp();
    expect(after).toContain('storevision bench outage --minutes 4 --outage-minutes 3');
  });
});

describe('storevision bench analytics --models', () => {
  it('is described, and a folder without a person-detector package is refused before anything renders', async () => {
    const { command, help } = benchCommand('analytics');
    expect(help).toContain('--models <dir>');
    await expect(
      command.parseAsync(['--models', '/nonexistent/models', '--seeds', '9100..9100'], { from: 'user' }),
    ).rejects.toMatchObject({
      code: 'CLI_ERR_USAGE',
      message: expect.stringContaining('no person-detector/manifest.json'),
    });
  });
});

describe('storevision bench analytics --truth-boxes', () => {
  it('is described, and a bad share or a detector option beside it is refused before anything renders', async () => {
    const { help } = benchCommand('analytics');
    expect(help).toContain('--truth-boxes [visible]');
    for (const [args, message] of [
      [['--truth-boxes', '1.5'], 'bad --truth-boxes "1.5": expected a number from 0 to 1'],
      [['--truth-boxes', 'most'], 'bad --truth-boxes "most"'],
      [['--truth-boxes', '0.25', '--replay'], '--truth-boxes runs no detector'],
      [['--truth-boxes', '--motion-gate'], '--truth-boxes runs no detector'],
    ] as const) {
      const { command } = benchCommand('analytics');
      await expect(
        command.parseAsync([...args, '--seeds', '9100..9100'], { from: 'user' }),
      ).rejects.toMatchObject({
        code: 'CLI_ERR_USAGE',
        message: expect.stringContaining(message),
      });
    }
  });
});
