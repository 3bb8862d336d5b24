import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gtRecordSchema, sceneDescriptionSchema } from '@storevision/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/storevision.js', import.meta.url));
const run = promisify(execFile);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('storevision | a reader that stops early', () => {
  it('ends quietly with status 0 when its stdout pipe is closed before it writes (`storevision --help | head -0`)', async () => {
    const child = spawn(process.execPath, [bin, 'bench', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before the help is written: the write gets EPIPE
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(code).toBe(0);
  });
});

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'sv-cli-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('storevision simulate', () => {
  it('writes frames, ground truth and the scene description', async () => {
    const out = join(work, 'seq');
    const r = await cli(
      'simulate',
      '--scene',
      'checkout',
      '--seed',
      '123',
      '--frames',
      '5',
      '--fps',
      '5',
      '--out',
      out,
    );
    expect(r.code).toBe(0);
    expect(await readdir(join(out, 'frames'))).toEqual([0, 1, 2, 3, 4].map((i) => `00000${i}.jpg`));
    const lines = (await readFile(join(out, 'ground-truth.jsonl'), 'utf8')).trim().split('\n');
    const records = lines.map((l) => gtRecordSchema.parse(JSON.parse(l)));
    expect(records[0]!.kind).toBe('sequence');
    expect(records.filter((r) => r.kind === 'frame')).toHaveLength(5);
    expect(records.at(-1)!.kind).toBe('summary');
    const scene = sceneDescriptionSchema.parse(JSON.parse(await readFile(join(out, 'scene.json'), 'utf8')));
    expect(scene.zones.map((z) => z.id)).toContain('queue');
    expect(await readdir(work)).toEqual(['seq']);
  });

  it.each([
    [['--scene', 'mall'], 'CLI_ERR_UNKNOWN_SCENE'],
    [['--scene', 'aisle', '--seed', 'abc'], 'CLI_ERR_BAD_SEED'],
    [['--scene', 'aisle', '--seed', '-4'], 'CLI_ERR_BAD_SEED'],
    [['--scene', 'aisle', '--width', '159', '--height', '300'], 'CLI_ERR_BAD_SIZE'],
    [['--scene', 'aisle', '--width', '4097', '--height', '300'], 'CLI_ERR_BAD_SIZE'],
    [['--scene', 'aisle', '--frames', '0'], 'CLI_ERR_USAGE'],
    [['--scene', 'aisle', '--crowd', '-1'], 'CLI_ERR_USAGE'],
    [['--scene', 'aisle', '--crowd', 'many'], 'CLI_ERR_USAGE'],
  ])('refuses %j with %s, one line and a non-zero exit, writing nothing', async (args, code) => {
    const out = join(work, `bad-${code}`);
    const r = await cli('simulate', ...args, '--out', out);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(code);
    await expect(stat(out)).rejects.toThrow();
  });

  it('refuses an unwritable output folder and leaves nothing behind', async () => {
    // A path below a regular file can never be created, whoever runs the test (root included).
    const blocker = join(work, 'a-file');
    await run('touch', [blocker]);
    const r = await cli('simulate', '--scene', 'aisle', '--frames', '2', '--out', join(blocker, 'seq'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('CLI_ERR_OUTPUT_UNWRITABLE');
    expect((await readdir(work)).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('refuses to write over a folder that is not empty', async () => {
    const r = await cli('simulate', '--scene', 'aisle', '--frames', '2', '--out', join(work, 'seq'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('CLI_ERR_OUTPUT_EXISTS');
  });

  it('reports an unreachable edge instead of failing silently', async () => {
    const r = await cli(
      'simulate',
      '--scene',
      'aisle',
      '--frames',
      '2',
      '--fps',
      '20',
      '--edge',
      'http://127.0.0.1:9',
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('CLI_ERR_EDGE_UNREACHABLE');
    expect(r.stdout).toContain('0/2 accepted');
  });

  it.each([['0'], ['1.5'], ['some']])('dataset refuses --min-visible %s, writing nothing', async (v) => {
    const out = join(work, `bad-visible-${v}`);
    const r = await cli('dataset', '--out', out, '--seeds', '1000..1000', '--min-visible', v);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('CLI_ERR_USAGE');
    expect(r.stderr).toContain('min-visible');
    await expect(stat(out)).rejects.toThrow();
  });

  it('prints --help for every command', async () => {
    for (const args of [
      ['--help'],
      ['simulate', '--help'],
      ['dataset', '--help'],
      ['bench', 'model', '--help'],
      ['bench', 'outage', '--help'],
    ]) {
      const r = await cli(...args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Usage: storevision');
    }
  });

  it("lists the edge's environment variables and thread defaults in `edge --help`", async () => {
    const r = await cli('edge', '--help');
    expect(r.code).toBe(0);
    // The variable names themselves, not a template left unexpanded.
    expect(r.stdout).toMatch(/environment: EDGE_PORT, EDGE_HOST, /);
    expect(r.stdout).toContain('EDGE_INFERENCE_THREADS');
    expect(r.stdout).not.toContain('$EDGE_ENV_VARS');
    expect(r.stdout.replace(/\s+/g, ' ')).toContain('two per core for light models');
  });
});

describe('storevision bench model', () => {
  it('refuses unknown scenes and bad seed ranges', async () => {
    const a = await cli('bench', 'model', '--scene', 'mall');
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('CLI_ERR_UNKNOWN_SCENE');
    const b = await cli('bench', 'model', '--seeds', '9..3');
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('CLI_ERR_BAD_SEED');
  });
});

describe('storevision bench outage', () => {
  it('refuses an outage that does not fit inside the sequence, before starting anything', async () => {
    const r = await cli('bench', 'outage', '--minutes', '3', '--outage-minutes', '3');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('CLI_ERR_USAGE: --outage-minutes (3) must be shorter than --minutes (3)');
    const m = await cli('bench', 'outage', '--minutes', 'an hour');
    expect(m.code).toBe(2);
    expect(m.stderr).toContain('bad minutes "an hour"');
  });
});
