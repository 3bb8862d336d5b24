// Entry of a model-validation thread. Plain JavaScript on purpose (as the edge's inference threads):
// on Node 20 a worker cannot load a `.ts` entry through `--import tsx`; tsx's API can.
import { tsImport } from 'tsx/esm/api';

await tsImport('./validate-thread.ts', import.meta.url);
