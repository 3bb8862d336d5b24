import { analyticsConfigForScene } from '@storevision/analytics';
import type { CameraSpecInput, SceneDescription } from '@storevision/contracts';

/**
 * The orchestrator registration (`PUT /v1/stores/{storeId}/cameras/{cameraId}`) of a simulated
 * push camera: the bundled detector, and the scene's zones and lines as its analytics config when
 * a scene is given. Used by `storevision up` and by the fault platform of the tests and `bench outage`.
 */
export function simulatedCameraSpec(o: {
  fps: number;
  width: number;
  height: number;
  scene?: SceneDescription;
}): CameraSpecInput {
  return {
    source: 'push',
    fps: o.fps,
    resolution: { width: o.width, height: o.height },
    pipelines: [
      {
        model: 'person-detector',
        minFps: 1,
        ...(o.scene ? { analytics: analyticsConfigForScene(o.scene) } : {}),
      },
    ],
  };
}
