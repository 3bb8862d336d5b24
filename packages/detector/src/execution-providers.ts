import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';

/**
 * Which onnxruntime execution providers to ask for, in order.
 *
 * The registry is explicit and small, like Frigate's detectors and immich's ML sessions: our
 * preferred order, intersected with what the model variant is meant for and with what this
 * machine can actually load, always ending in CPU so that a session can be created anywhere.
 */

export type ExecutionProviderName = 'tensorrt' | 'cuda' | 'coreml' | 'webgpu' | 'cpu';

/**
 * Fastest first. WebGPU is left out of the default order: in Node it is experimental and slower
 * than CPU for small detectors; a caller can still ask for it.
 */
export const DEFAULT_EP_PREFERENCE: readonly ExecutionProviderName[] = ['tensorrt', 'cuda', 'coreml', 'cpu'];

/** An execution provider as `ort.listSupportedBackends()` reports it. */
export interface BackendInfo {
  name: string;
  /** False when the provider's shared library is a separate install (CUDA, TensorRT on Linux). */
  bundled: boolean;
}

export interface AvailabilityProbe {
  listBackends?: () => readonly BackendInfo[];
  /** Whether a non-bundled provider's library is installed. */
  providerInstalled?: (name: string) => boolean;
}

/**
 * The providers this process can load. `listSupportedBackends()` lists what the binding was built
 * with; on Linux it lists `cuda` and `tensorrt` even when their libraries (an optional download at
 * `npm install`) are missing, so non-bundled ones also need their library next to the binding.
 */
export function availableExecutionProviders(probe: AvailabilityProbe = {}): ExecutionProviderName[] {
  const list = probe.listBackends ?? (() => ort.listSupportedBackends());
  const installed = probe.providerInstalled ?? providerLibraryInstalled;
  const out: ExecutionProviderName[] = [];
  for (const b of list()) {
    if (!isKnown(b.name)) continue;
    if (b.bundled || installed(b.name)) out.push(b.name);
  }
  if (!out.includes('cpu')) out.push('cpu');
  return out;
}

export interface SelectOptions {
  /** What this machine can load (`availableExecutionProviders()`). */
  available: readonly string[];
  /** What the model variant is meant for; absent means any. */
  wanted?: readonly string[];
  /** Our order of preference. @defaultValue DEFAULT_EP_PREFERENCE */
  preference?: readonly string[];
}

/** Preferred order ∩ wanted ∩ available, then CPU as the last resort. */
export function selectExecutionProviders(options: SelectOptions): ExecutionProviderName[] {
  const preference = options.preference ?? DEFAULT_EP_PREFERENCE;
  const available = new Set(options.available);
  const wanted = options.wanted ? new Set(options.wanted) : undefined;
  const out: ExecutionProviderName[] = [];
  for (const name of preference) {
    if (!isKnown(name) || name === 'cpu' || out.includes(name)) continue;
    if (available.has(name) && (!wanted || wanted.has(name))) out.push(name);
  }
  out.push('cpu');
  return out;
}

function isKnown(name: string): name is ExecutionProviderName {
  return name === 'tensorrt' || name === 'cuda' || name === 'coreml' || name === 'webgpu' || name === 'cpu';
}

function providerLibraryInstalled(name: string): boolean {
  try {
    const require = createRequire(import.meta.url);
    const pkgDir = path.dirname(require.resolve('onnxruntime-node/package.json'));
    const binDir = path.join(pkgDir, 'bin', 'napi-v6', process.platform, process.arch);
    const lib =
      process.platform === 'win32'
        ? `onnxruntime_providers_${name}.dll`
        : `libonnxruntime_providers_${name}.so`;
    return existsSync(path.join(binDir, lib));
  } catch {
    return false;
  }
}
