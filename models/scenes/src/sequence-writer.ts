/** Writes a rendered sequence to a folder: frames, `ground-truth.jsonl` and `scene.json`. */

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GtRecord } from '@storevision/contracts';
import type { RenderedFrame, SequenceRenderer } from './sequence.ts';

/**
 * Renders every frame of `renderer` into `dir` (which must exist and be empty). `onFrame` sees each
 * frame as it is written, e.g. to stream it to an edge. `scene.json` is written last, so a folder
 * without it is incomplete.
 */
export async function writeSequence(
  renderer: SequenceRenderer,
  dir: string,
  onFrame?: (frame: RenderedFrame) => Promise<void> | void,
): Promise<void> {
  await mkdir(join(dir, 'frames'), { recursive: true });
  const gt = createWriteStream(join(dir, 'ground-truth.jsonl'));
  const write = async (rec: GtRecord) => {
    if (!gt.write(`${JSON.stringify(rec)}\n`)) await once(gt, 'drain');
  };
  try {
    await write(renderer.header());
    for await (const f of renderer.frames()) {
      await writeFile(join(dir, f.truth.file), f.jpeg);
      await write(f.truth);
      await onFrame?.(f);
    }
    const { crossings, visits, summary } = renderer.finish();
    for (const c of crossings) await write(c);
    for (const v of visits) await write(v);
    await write(summary);
  } finally {
    gt.end();
    await once(gt, 'close');
  }
  await writeFile(join(dir, 'scene.json'), `${JSON.stringify(renderer.describe(), null, 2)}\n`);
}

/** Renders frames without writing them anywhere (streaming only). */
export async function streamSequence(
  renderer: SequenceRenderer,
  onFrame: (frame: RenderedFrame) => Promise<void> | void,
): Promise<void> {
  for await (const f of renderer.frames()) await onFrame(f);
}
