import { describe, expect, it } from 'vitest';
import { availableExecutionProviders, selectExecutionProviders } from './execution-providers.ts';

// What onnxruntime-node 1.30 reports on linux-x64: CUDA and TensorRT are built in but their
// libraries are a separate download.
const linuxX64 = () => [
  { name: 'cpu', bundled: true },
  { name: 'webgpu', bundled: true },
  { name: 'cuda', bundled: false },
  { name: 'tensorrt', bundled: false },
];

describe('availableExecutionProviders', () => {
  it('counts a non-bundled provider only when its library is installed', () => {
    expect(availableExecutionProviders({ listBackends: linuxX64, providerInstalled: () => false })).toEqual([
      'cpu',
      'webgpu',
    ]);
    expect(
      availableExecutionProviders({ listBackends: linuxX64, providerInstalled: (n) => n === 'cuda' }),
    ).toEqual(['cpu', 'webgpu', 'cuda']);
  });

  it('always includes cpu and ignores providers it does not know', () => {
    expect(availableExecutionProviders({ listBackends: () => [{ name: 'dml', bundled: true }] })).toEqual([
      'cpu',
    ]);
  });

  it('reads the real onnxruntime-node on this machine', () => {
    expect(availableExecutionProviders()).toContain('cpu');
  });
});

describe('selectExecutionProviders', () => {
  it('orders by preference, fastest first, and ends with cpu', () => {
    expect(selectExecutionProviders({ available: ['cpu', 'webgpu', 'cuda', 'tensorrt'] })).toEqual([
      'tensorrt',
      'cuda',
      'cpu',
    ]);
  });

  it('keeps only what the variant is meant for, and what the machine has', () => {
    expect(selectExecutionProviders({ available: ['cpu', 'cuda', 'tensorrt'], wanted: ['cuda'] })).toEqual([
      'cuda',
      'cpu',
    ]);
    expect(selectExecutionProviders({ available: ['cpu', 'webgpu'], wanted: ['cuda', 'tensorrt'] })).toEqual([
      'cpu',
    ]);
  });

  it('falls back to cpu on a CPU-only box and honours a custom preference', () => {
    expect(selectExecutionProviders({ available: ['cpu'] })).toEqual(['cpu']);
    expect(
      selectExecutionProviders({ available: ['cpu', 'webgpu', 'cuda'], preference: ['webgpu', 'cuda'] }),
    ).toEqual(['webgpu', 'cuda', 'cpu']);
  });
});
