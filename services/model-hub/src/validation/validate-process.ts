/**
 * One model validation, in a short-lived child process (see `ProcessModelValidator`): parse the
 * ONNX protobuf from the file at offsets (weights are skipped, never read), build the manifest from
 * Ultralytics metadata when none was given, load the model in onnxruntime from its path, and check
 * the manifest against the graph. Reads one `ValidateRequest` from IPC, answers one
 * `ValidateMessage` per phase and the result, and exits, so the model's bytes and the session's
 * native memory leave with the process.
 */
import type { ModelManifest } from '@storevision/contracts';
import {
  checkManifestAgainstGraph,
  graphIoFromSession,
  isDetectorError,
  manifestFromUltralyticsInfo,
  type OnnxModelInfo,
  readOnnxModelInfoFromFileSync,
} from '@storevision/detector';
import { InferenceSession } from 'onnxruntime-node';
import type { ValidateMessage, ValidateRequest, ValidateResult } from './messages.ts';

if (!process.send) throw new Error('validate-process.ts must run as a child process with an IPC channel');
const send = (m: ValidateMessage) =>
  new Promise<void>((resolve) => {
    process.send!(m, undefined, {}, () => resolve());
  });

async function validate(req: ValidateRequest): Promise<ValidateResult> {
  let info: OnnxModelInfo;
  try {
    info = readOnnxModelInfoFromFileSync(req.file);
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
  // From here a crash (onnxruntime is native code) means the runtime cannot load this model.
  await send({ phase: 'load' });
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

// The hub went away (it exited or killed us): nobody waits for the verdict.
process.once('disconnect', () => process.exit(1));
process.once('message', (req: ValidateRequest) => {
  validate(req)
    .catch((err): ValidateResult => ({ ok: false, code: 'HUB_ERR_INTERNAL', message: String(err) }))
    .then((result) => send({ phase: 'done', result }))
    .finally(() => process.exit(0));
});
await send({ phase: 'ready' });
