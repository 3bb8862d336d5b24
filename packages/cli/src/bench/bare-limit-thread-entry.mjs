// Entry of a bare-limit benchmark thread. Plain JavaScript for the same reason as the edge's
// inference-thread-entry.mjs: a worker cannot load a `.ts` entry through `--import tsx` on Node 20,
// but tsx's API imports the TypeScript module and everything it imports.
import { tsImport } from 'tsx/esm/api';

await tsImport('./bare-limit-thread.ts', import.meta.url);
