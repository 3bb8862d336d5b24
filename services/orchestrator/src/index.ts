export { build, type OrchestratorAppDeps } from './app.ts';
export {
  loadConfig,
  ORCH_ENV_VARS,
  type OrchestratorConfig,
  OrchestratorConfigError,
  type OrchestratorConfigInput,
  orchestratorConfigSchema,
} from './config.ts';
export { isOrchError, OrchError, type OrchErrorCode, orchErrors } from './errors.ts';
export { createOrchestrator, type Orchestrator, type OrchestratorOptions } from './orchestrator.ts';
export { solveExact } from './planner/exact-solver.ts';
export * from './planner/planner.ts';
export { type RunningOrchestrator, startOrchestrator } from './server.ts';
