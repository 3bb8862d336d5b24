/**
 * One model validation, in a worker thread: parse the ONNX protobuf, build the manifest from
 * Ultralytics metadata when none was given, load the model in onnxruntime, and check the manifest
 * against the graph. Runs once and exits, so the model's bytes and the session leave memory with it.
 */
import { readFile } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import type { ModelManifest } from '@storevision/contracts';
import {
  checkManifestAgainstGraph,
  graphIoFromSession,
  isDetectorError,
  manifestFromUltralyticsInfo,
  type OnnxModelInfo,
  readOnnxModelInfo,
} from '@storevision/detector';
import { InferenceSession } from 'onnxruntime-node';
import type { ValidateRequest, ValidateResult } from './messages.ts';

const req = workerData as ValidateRequest;
const port = parentPort;
if (!port) throw new Error('validate-thread.ts must run in a worker thread');

async function validate(): Promise<ValidateResult> {
  let info: OnnxModelInfo;
  try {
    info = readOnnxModelInfo(await readFile(req.file));
  } catch (err) {
    return { ok: false, code: 'HUB_ERR_NOT_ONNX', message: (err as Error).message };
  }
  let manifest: ModelManifest;
  const imported = req.manifest === undefined;
  if (req.manifest) manifest = req.manifest;
  else {
    try {
      manifest = manifestFromUltralyticsInfo(info, {
        name: req.name,
        version: req.version,
        file: req.fileName,
        sha256: req.sha256,
        sizeBytes: req.sizeBytes,
      });
    } catch (err) {
      const code =
        isDetectorError(err) && err.code === 'DETECTOR_ERR_NOT_ULTRALYTICS'
          ? 'HUB_ERR_MANIFEST_REQUIRED'
          : 'HUB_ERR_MANIFEST_INVALID';
      return { ok: false, code, message: (err as Error).message };
    }
  }
  const t0 = performance.now();
  let session: InferenceSession;
  try {
    // One thread: publishes are rare and the hub's cores serve HTTP; loading is what is checked.
    session = await InferenceSession.create(req.file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  } catch (err) {
    return { ok: false, code: 'HUB_ERR_ONNX_REJECTED', message: (err as Error).message };
  }
  const loadMs = performance.now() - t0;
  const graph = graphIoFromSession(session);
  await session.release();
  const issues = checkManifestAgainstGraph(manifest, graph);
  if (issues.length > 0) {
    return {
      ok: false,
      code: 'HUB_ERR_MANIFEST_MISMATCH',
      message: issues.map((i) => `${i.path}: ${i.message}`).join('; '),
    };
  }
  return { ok: true, manifest, graph, imported, loadMs };
}

validate().then(
  (r) => port.postMessage(r),
  (err) =>
    port.postMessage({ ok: false, code: 'HUB_ERR_INTERNAL', message: String(err) } satisfies ValidateResult),
);
