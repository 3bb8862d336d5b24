export * from './analytics.ts';
export * from './detection.ts';
export * from './edge.ts';
export * from './geometry.ts';
export * from './ground-truth.ts';
export * from './hub.ts';
export * from './manifest.ts';
export * from './scene.ts';
