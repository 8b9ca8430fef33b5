import type { CostOf } from '../../src/analytics/fold.ts';

/** The price table of the rollup tests (micro-dollars), shared with the roller they kill (crashing-roller.ts). */
export const costOf: CostOf = (model, i, o) => (model.startsWith('gpt') ? i * 2 + o * 8 : 0);
