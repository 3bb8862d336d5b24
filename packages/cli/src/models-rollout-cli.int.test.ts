import { readFileSync } from 'node:fs';
import type { RunningHub } from '@storevision/model-hub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWaves } from './commands/models.ts';
import {
  cli,
  PERSON_DETECTOR_MANIFEST as MANIFEST,
  PERSON_DETECTOR,
  startCliTestHub,
} from './testing/cli-hub.ts';

/** `storevision models rollout|status|rollback|pause|resume` against a real hub over HTTP. */
const TOKEN = 'cli-rollout-admin-token-0123456789';
/** The bundled model's version, as its manifest states it. */
const V = (JSON.parse(readFileSync(MANIFEST, 'utf8')) as { version: string }).version;

let hub: RunningHub;
let disposeHub: (() => Promise<void>) | undefined;
beforeAll(async () => {
  ({ hub, dispose: disposeHub } = await startCliTestHub(TOKEN));
});
afterAll(async () => {
  await disposeHub?.();
});

describe('parseWaves', () => {
  it('reads cumulative percents and store lists with one hold; refuses the rest', () => {
    expect(parseWaves('50,100', '30')).toEqual([
      { percent: 50, holdSeconds: 30 },
      { percent: 100, holdSeconds: 30 },
    ]);
    expect(parseWaves('s1,s2+s3', '0')).toEqual([
      { stores: ['s1'], holdSeconds: 0 },
      { stores: ['s2', 's3'], holdSeconds: 0 },
    ]);
    expect(() => parseWaves('50,', '1')).toThrow(/comma-separated/);
    expect(() => parseWaves('50,a b', '1')).toThrow(/bad wave/);
    expect(() => parseWaves('100', '-1')).toThrow(/--hold/);
  });
});

describe('storevision models rollout', () => {
  it('rolls out, shows status, rolls back; clear errors for bad waves and unknown rollouts', async () => {
    const common = ['--hub', hub.url, '--token', TOKEN];
    const help = await cli('models', 'rollout', '--help');
    expect(help.stdout).toContain('--waves <list>');
    expect(help.stdout).toContain('--max-p99 <ms>');
    expect(
      (
        await cli(
          'models',
          'publish',
          PERSON_DETECTOR,
          '--name',
          'person-detector',
          '--manifest',
          MANIFEST,
          ...common,
        )
      ).code,
    ).toBe(0);
    // One edge in each of two stores, as their health reports register them.
    for (const [node, store] of [
      ['n1', 's1'],
      ['n2', 's2'],
    ]) {
      const res = await fetch(`${hub.url}/v1/nodes/${node}/health`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ storeId: store, models: [] }),
      });
      expect(res.status).toBe(204);
    }
    const badWaves = await cli('models', 'rollout', 'person-detector', V, '--waves', '60,50', ...common);
    expect(badWaves.code).toBe(1);
    expect(badWaves.stderr).toContain('HUB_ERR_BAD_WAVES');
    const usage = await cli('models', 'rollout', 'person-detector', V, '--waves', '50,?', ...common);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('CLI_ERR_USAGE');

    const created = await cli(
      'models',
      'rollout',
      'person-detector',
      V,
      '--waves',
      '50,100',
      '--hold',
      '30',
      '--json',
      ...common,
    );
    expect(created.stderr).toBe('');
    const r = JSON.parse(created.stdout);
    expect(r).toMatchObject({ model: 'person-detector', version: V, state: 'running', currentWave: 0 });
    const status = await cli('models', 'status', r.id, ...common);
    expect(status.stdout).toContain(`rollout ${r.id}: person-detector@${V} running (wave 1/2)`);
    expect(status.stdout).toMatch(/s1\s+1\s+updating\s+n1:updating/);
    expect(status.stdout).toMatch(/s2\s+2\s+pending/);
    const rb = await cli('models', 'rollback', r.id, ...common);
    expect(rb.stdout).toContain('rolled_back');
    const unknown = await cli('models', 'status', 'ro_nope', ...common);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('HUB_ERR_ROLLOUT_NOT_FOUND');
  });
});
