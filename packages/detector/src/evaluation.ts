import type { Box, Detection, GtObject } from '@storevision/contracts';
import { iou } from './nms.ts';

/**
 * Detection quality against ground truth, accumulated frame by frame: per-class average precision
 * at one IoU (all-point interpolation, as PASCAL VOC 2010+ and COCO compute the area under the
 * precision–recall curve), and precision/recall at an operating score threshold.
 *
 * Objects that are mostly hidden or outside the frame are "ignore" regions, the CityPersons /
 * CrowdHuman "reasonable" convention: they are not positives, and a detection on one is neither a
 * hit nor a false alarm, so a model is neither rewarded nor punished for finding a person behind
 * a shelf whose hand is the only thing visible.
 */

export interface EvaluationOptions {
  /** IoU for a detection to match a ground-truth object. @defaultValue 0.5 */
  iouThreshold?: number;
  /** Objects less visible than this are ignore regions. @defaultValue 0.3 */
  minVisible?: number;
  /** Score at which precision and recall are reported. @defaultValue 0.25 */
  scoreThreshold?: number;
  /** Evaluate only these labels (others are dropped from both sides); by default every label seen. */
  labels?: readonly string[];
}

/** What evaluation needs of a ground-truth object (a contracts `GtObject` fits). */
export type EvaluatedGtObject = Pick<GtObject, 'box' | 'visible'> & { label: string };

export interface ClassEvaluation {
  /** Area under the interpolated precision–recall curve; null when the class has no positives. */
  ap: number | null;
  /** Ground-truth objects that count (visible ≥ minVisible). */
  positives: number;
  /** Ground-truth objects that were ignore regions. */
  ignoredObjects: number;
  /** Detections (any score) that fell on an ignore region and were not counted. */
  ignoredDetections: number;
  /** At `scoreThreshold`: */
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  /** null when nothing was detected at the threshold. */
  precision: number | null;
  /** null when the class has no positives. */
  recall: number | null;
}

export interface EvaluationResult {
  frames: number;
  iouThreshold: number;
  minVisible: number;
  scoreThreshold: number;
  perClass: Record<string, ClassEvaluation>;
  /** Mean of the classes' AP, over classes with positives; null when none has. */
  mAP: number | null;
}

interface ClassAccumulator {
  scores: number[];
  /** 1 = true positive, 0 = false positive, parallel to `scores`. */
  hits: number[];
  positives: number;
  ignoredObjects: number;
  ignoredDetections: number;
}

export class DetectionEvaluator {
  readonly #iou: number;
  readonly #minVisible: number;
  readonly #scoreThreshold: number;
  readonly #labels: ReadonlySet<string> | undefined;
  readonly #classes = new Map<string, ClassAccumulator>();
  #frames = 0;

  constructor(options: EvaluationOptions = {}) {
    this.#iou = options.iouThreshold ?? 0.5;
    this.#minVisible = options.minVisible ?? 0.3;
    this.#scoreThreshold = options.scoreThreshold ?? 0.25;
    this.#labels = options.labels ? new Set(options.labels) : undefined;
    for (const label of options.labels ?? []) this.#class(label);
  }

  /** Adds one frame: what the model reported and what was really there. */
  add(detections: readonly Detection[], groundTruth: readonly EvaluatedGtObject[]): void {
    this.#frames++;
    const labels = new Set<string>();
    for (const d of detections) labels.add(d.label);
    for (const g of groundTruth) labels.add(g.label);
    for (const label of labels) {
      if (this.#labels && !this.#labels.has(label)) continue;
      this.#addClass(
        this.#class(label),
        detections.filter((d) => d.label === label),
        groundTruth.filter((g) => g.label === label),
      );
    }
  }

  #class(label: string): ClassAccumulator {
    let acc = this.#classes.get(label);
    if (!acc) {
      acc = { scores: [], hits: [], positives: 0, ignoredObjects: 0, ignoredDetections: 0 };
      this.#classes.set(label, acc);
    }
    return acc;
  }

  #addClass(acc: ClassAccumulator, detections: Detection[], groundTruth: EvaluatedGtObject[]): void {
    const positives: Box[] = [];
    const ignored: Box[] = [];
    for (const g of groundTruth) (g.visible >= this.#minVisible ? positives : ignored).push(g.box);
    acc.positives += positives.length;
    acc.ignoredObjects += ignored.length;
    const matched = new Uint8Array(positives.length);
    // Greedy by descending score: a better detection claims its object first.
    const sorted = [...detections].sort((a, b) => b.score - a.score);
    for (const d of sorted) {
      let best = -1;
      let bestIou = this.#iou;
      positives.forEach((g, i) => {
        if (matched[i]) return;
        const o = iou(d.box, g);
        if (o >= bestIou) {
          bestIou = o;
          best = i;
        }
      });
      if (best >= 0) {
        matched[best] = 1;
        acc.scores.push(d.score);
        acc.hits.push(1);
      } else if (ignored.some((g) => iou(d.box, g) >= this.#iou)) {
        // An ignore region absorbs any number of detections (like COCO's crowd regions).
        acc.ignoredDetections++;
      } else {
        acc.scores.push(d.score);
        acc.hits.push(0);
      }
    }
  }

  result(): EvaluationResult {
    const perClass: Record<string, ClassEvaluation> = {};
    const aps: number[] = [];
    for (const [label, acc] of [...this.#classes].sort(([a], [b]) => a.localeCompare(b))) {
      const ap = averagePrecision(acc.scores, acc.hits, acc.positives);
      if (ap !== null) aps.push(ap);
      let tp = 0;
      let fp = 0;
      acc.scores.forEach((s, i) => {
        if (s < this.#scoreThreshold) return;
        if (acc.hits[i]) tp++;
        else fp++;
      });
      perClass[label] = {
        ap,
        positives: acc.positives,
        ignoredObjects: acc.ignoredObjects,
        ignoredDetections: acc.ignoredDetections,
        truePositives: tp,
        falsePositives: fp,
        falseNegatives: acc.positives - tp,
        precision: tp + fp > 0 ? tp / (tp + fp) : null,
        recall: acc.positives > 0 ? tp / acc.positives : null,
      };
    }
    return {
      frames: this.#frames,
      iouThreshold: this.#iou,
      minVisible: this.#minVisible,
      scoreThreshold: this.#scoreThreshold,
      perClass,
      mAP: aps.length > 0 ? aps.reduce((a, b) => a + b, 0) / aps.length : null,
    };
  }
}

/**
 * All-point interpolated AP (VOC 2010+): precision is made monotone from the right (each recall
 * level gets the best precision at that recall or beyond), then summed over the recall steps.
 */
export function averagePrecision(
  scores: readonly number[],
  hits: readonly number[],
  positives: number,
): number | null {
  if (positives === 0) return null;
  const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const recall: number[] = [0];
  const precision: number[] = [0];
  let tp = 0;
  let fp = 0;
  for (const i of order) {
    if (hits[i]) tp++;
    else fp++;
    recall.push(tp / positives);
    precision.push(tp / (tp + fp));
  }
  recall.push(1);
  precision.push(0);
  for (let i = precision.length - 2; i >= 0; i--) precision[i] = Math.max(precision[i]!, precision[i + 1]!);
  let ap = 0;
  for (let i = 1; i < recall.length; i++) ap += (recall[i]! - recall[i - 1]!) * precision[i]!;
  return ap;
}
