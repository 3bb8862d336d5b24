/**
 * Helpers shared by the end-to-end tests in test/: waiting for a condition, JSON over HTTP. They
 * live with the benchmarks that drive the same platform (packages/cli/src/bench/poll.ts).
 */
export { type Json, json, sleep, until } from '../packages/cli/src/bench/poll.ts';
