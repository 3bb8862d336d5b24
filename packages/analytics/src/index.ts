export { appearanceDistance, appearanceOf, type RgbPixels } from './appearance.ts';
export { type Assignment, linearAssignment } from './assignment.ts';
export {
  type AnalyticsFrame,
  CameraAnalytics,
  type CameraAnalyticsOptions,
  sideOf,
} from './camera-analytics.ts';
export {
  type AnalyticsScore,
  analyticsConfigForScene,
  type LineScore,
  MIN_VISIBLE_FOR_TRACKING,
  median,
  type ObservedFrame,
  scoreAnalytics,
} from './evaluation.ts';
export { BoxKalman } from './kalman.ts';
export { evaluateTracking, type MotFrame, type MotResult } from './mot-metrics.ts';
export {
  ByteTracker,
  type ByteTrackerOptions,
  iou,
  type Track,
  type TrackInput,
  type TrackState,
} from './tracker.ts';
