// Entry of an inference thread. Plain JavaScript on purpose: on Node 20 a worker started with
// `execArgv: ['--import', 'tsx']` still cannot load a `.ts` entry (the loader hooks are not in
// place for the worker's main module), under the CLI and under vitest alike. tsx's own API
// imports the TypeScript module and everything it imports, in any parent.
import { tsImport } from 'tsx/esm/api';

await tsImport('./inference-thread.ts', import.meta.url);
