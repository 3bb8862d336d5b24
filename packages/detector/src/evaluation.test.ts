import type { Detection } from '@storevision/contracts';
import { describe, expect, it } from 'vitest';
import { averagePrecision, DetectionEvaluator, type EvaluatedGtObject } from './evaluation.ts';

const box = (x1: number, y1: number, x2: number, y2: number) => ({ x1, y1, x2, y2 });
const person = (score: number, b: ReturnType<typeof box>): Detection => ({
  label: 'person',
  classId: 0,
  score,
  box: b,
});
const gt = (b: ReturnType<typeof box>, visible = 1, label = 'person'): EvaluatedGtObject => ({
  label,
  box: b,
  visible,
});

const A = box(0, 0, 10, 20);
const B = box(50, 0, 60, 20);
const nowhere = box(100, 100, 110, 120);

describe('DetectionEvaluator', () => {
  it('computes all-point AP: hit, miss, miss, hit over two people is 0.5·1 + 0.5·0.5 = 0.75', () => {
    const ev = new DetectionEvaluator({ scoreThreshold: 0.65 });
    ev.add(
      [
        person(0.9, A),
        person(0.8, nowhere),
        person(0.7, box(200, 0, 210, 20)),
        person(0.6, box(50, 1, 60, 21)),
      ],
      [gt(A), gt(B)],
    );
    const r = ev.result();
    expect(r.perClass.person!.ap).toBeCloseTo(0.75, 12);
    expect(r.mAP).toBeCloseTo(0.75, 12);
    // At 0.65: one hit, two false alarms, one person missed.
    expect(r.perClass.person).toMatchObject({
      truePositives: 1,
      falsePositives: 2,
      falseNegatives: 1,
      positives: 2,
    });
    expect(r.perClass.person!.precision).toBeCloseTo(1 / 3, 12);
    expect(r.perClass.person!.recall).toBe(0.5);
  });

  it('accumulates over frames exactly as if they were one', () => {
    const ev = new DetectionEvaluator();
    ev.add([person(0.9, A), person(0.7, box(200, 0, 210, 20))], [gt(A)]);
    ev.add([person(0.8, nowhere), person(0.6, B)], [gt(B)]);
    expect(ev.result().perClass.person!.ap).toBeCloseTo(0.75, 12);
    expect(ev.result().frames).toBe(2);
  });

  it('treats barely visible people as ignore regions: not positives, detections on them neither hit nor miss', () => {
    const hidden = box(300, 0, 310, 20);
    const ev = new DetectionEvaluator();
    ev.add(
      [
        person(0.95, hidden),
        person(0.9, A),
        person(0.8, nowhere),
        person(0.7, box(200, 0, 210, 20)),
        person(0.6, B),
      ],
      [gt(A), gt(B), gt(hidden, 0.1)],
    );
    const p = ev.result().perClass.person!;
    expect(p.ap).toBeCloseTo(0.75, 12);
    expect(p).toMatchObject({ positives: 2, ignoredObjects: 1, ignoredDetections: 1, falsePositives: 2 });
    // With minVisible 0 the hidden person counts: hit, hit, miss, miss, hit over three people;
    // precision 1, 1, 2/3, 1/2, 3/5 → AP = (1/3)·1 + (1/3)·1 + (1/3)·(3/5).
    const strict = new DetectionEvaluator({ minVisible: 0 });
    strict.add(
      [
        person(0.95, hidden),
        person(0.9, A),
        person(0.8, nowhere),
        person(0.7, box(200, 0, 210, 20)),
        person(0.6, B),
      ],
      [gt(A), gt(B), gt(hidden, 0.1)],
    );
    expect(strict.result().perClass.person!.ap).toBeCloseTo((1 + 1 + 0.6) / 3, 12);
  });

  it('matches visible people before ignore regions, and each person only once', () => {
    // A visible person and a hidden one on the same spot: the detection takes the visible one;
    // a duplicate detection of A is then absorbed by the ignore region, not a false alarm.
    const ev = new DetectionEvaluator();
    ev.add([person(0.9, A), person(0.8, A)], [gt(A, 0.1), gt(A, 1)]);
    expect(ev.result().perClass.person).toMatchObject({
      ap: 1,
      truePositives: 1,
      falsePositives: 0,
      ignoredDetections: 1,
    });
    // Without the ignore region the duplicate is a false alarm.
    const dup = new DetectionEvaluator();
    dup.add([person(0.9, A), person(0.8, A)], [gt(A)]);
    expect(dup.result().perClass.person).toMatchObject({ ap: 1, truePositives: 1, falsePositives: 1 });
  });

  it('needs IoU ≥ 0.5 to match and evaluates classes separately', () => {
    const ev = new DetectionEvaluator();
    const half = box(0, 0, 10, 10); // IoU with A = 0.5 exactly
    const cart: Detection = { label: 'cart', classId: 1, score: 0.9, box: B };
    ev.add([person(0.9, half), person(0.8, box(0, 11, 10, 20)), cart], [gt(A), gt(B, 1, 'cart')]);
    const r = ev.result();
    expect(r.perClass.person).toMatchObject({ ap: 1, truePositives: 1, falsePositives: 1 });
    expect(r.perClass.cart).toMatchObject({ ap: 1, truePositives: 1 });
    expect(r.mAP).toBe(1);
  });

  it('reports null where a number would be meaningless, and can restrict the labels', () => {
    const ev = new DetectionEvaluator({ labels: ['person'] });
    ev.add([{ label: 'dog', classId: 16, score: 0.9, box: A }], []);
    const r = ev.result();
    expect(Object.keys(r.perClass)).toEqual(['person']);
    expect(r.perClass.person).toMatchObject({ ap: null, precision: null, recall: null });
    expect(r.mAP).toBeNull();
  });
});

describe('averagePrecision', () => {
  it('is 1 for a perfect ranking and uses the precision envelope', () => {
    expect(averagePrecision([0.9, 0.8], [1, 1], 2)).toBe(1);
    // miss, hit, hit over 2: precision 0, 1/2, 2/3 → envelope 2/3 for both recall steps.
    expect(averagePrecision([0.9, 0.8, 0.7], [0, 1, 1], 2)).toBeCloseTo(2 / 3, 12);
    // Missed positives cap the area: one hit of three positives.
    expect(averagePrecision([0.9], [1], 3)).toBeCloseTo(1 / 3, 12);
  });
});
