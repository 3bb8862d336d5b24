// Entry of a model-validation child process. Plain JavaScript on purpose: the hub may run from
// TypeScript sources through tsx (or under vitest), and a fresh process loads `.ts` through tsx's API.
import { tsImport } from 'tsx/esm/api';

await tsImport('./validate-process.ts', import.meta.url);
