/**
 * Detection quality: precision and recall per entity type against labelled spans, presidio-research style — a
 * predicted span counts when its character intersection-over-union with a labelled span of the same type is at
 * least 0.9. Used by the corpus test and `npm run eval:detect`.
 */
import type { Finding } from '../../core/findings.ts';

export interface LabelledSpan {
  readonly type: string;
  readonly start: number;
  readonly end: number;
}

export interface Sample {
  readonly text: string;
  readonly spans: readonly LabelledSpan[];
}

export interface TypeScore {
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
}

export function iou(a: LabelledSpan, b: LabelledSpan): number {
  const inter = Math.max(0, Math.min(a.end, b.end) - Math.max(a.start, b.start));
  const union = Math.max(a.end, b.end) - Math.min(a.start, b.start);
  return union === 0 ? 0 : inter / union;
}

/**
 * Score predictions against labels. `typeMap` renames predicted types before comparing (e.g. all SECRET_* to
 * SECRET). Only types in `types` are scored (others are ignored on both sides).
 */
export function evaluate(
  samples: readonly Sample[],
  predict: (text: string) => readonly Finding[],
  o: { types: readonly string[]; typeMap?: (t: string) => string; threshold?: number },
): Record<string, TypeScore> {
  const threshold = o.threshold ?? 0.9;
  const map = o.typeMap ?? ((t: string) => t);
  const out: Record<string, TypeScore> = {};
  for (const t of o.types) out[t] = { tp: 0, fp: 0, fn: 0, precision: 1, recall: 1 };
  for (const s of samples) {
    const preds = predict(s.text).map((f) => ({ type: map(f.type), start: f.start, end: f.end })).filter((f) => out[f.type]);
    const labels = s.spans.map((l) => ({ ...l, type: map(l.type) })).filter((l) => out[l.type]);
    const used = new Set<number>();
    for (const p of preds) {
      const i = labels.findIndex((l, k) => !used.has(k) && l.type === p.type && iou(l, p) >= threshold);
      if (i >= 0) {
        used.add(i);
        out[p.type]!.tp++;
      } else out[p.type]!.fp++;
    }
    labels.forEach((l, k) => {
      if (!used.has(k)) out[l.type]!.fn++;
    });
  }
  for (const r of Object.values(out)) {
    r.precision = r.tp + r.fp === 0 ? 1 : r.tp / (r.tp + r.fp);
    r.recall = r.tp + r.fn === 0 ? 1 : r.tp / (r.tp + r.fn);
  }
  return out;
}

/** Share of samples without labels of `types` in which something of those types was predicted. */
export function falsePositiveRate(samples: readonly Sample[], predict: (text: string) => readonly Finding[], match: (type: string) => boolean): number {
  const negatives = samples.filter((s) => !s.spans.some((l) => match(l.type)));
  if (negatives.length === 0) return 0;
  const hit = negatives.filter((s) => predict(s.text).some((f) => match(f.type))).length;
  return hit / negatives.length;
}
