import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { evaluate, falsePositiveRate, type Sample } from '../../src/detect/detectors/evaluate.ts';
import { compileScanner } from '../../src/detect/scanner.ts';

/**
 * Precision and recall per type on the synthetic labelled corpus (corpus.jsonl, from corpus-gen.ts): a predicted
 * span counts when its IoU with a labelled span of the same type is >= 0.9. The thresholds are the targets.
 */
const samples = readFileSync(new URL('./corpus.jsonl', import.meta.url), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Sample);
const scanner = compileScanner();
const predict = (text: string) => scanner.scan(text);
const isSecret = (t: string) => t.startsWith('SECRET_');

describe('detection quality on the labelled corpus', () => {
  const pii = evaluate(samples, predict, { types: ['CREDIT_CARD', 'IBAN_CODE', 'EMAIL_ADDRESS', 'IP_ADDRESS', 'US_SSN', 'PHONE_NUMBER'] });
  const secrets = evaluate(samples, predict, { types: ['SECRET'], typeMap: (t) => (isSecret(t) ? 'SECRET' : t) });

  for (const type of ['CREDIT_CARD', 'IBAN_CODE', 'EMAIL_ADDRESS', 'IP_ADDRESS', 'US_SSN']) {
    it(`${type}: precision and recall >= 0.99`, () => {
      const r = pii[type]!;
      assert.ok(r.tp >= 50, `enough samples (${r.tp})`);
      assert.ok(r.precision >= 0.99 && r.recall >= 0.99, JSON.stringify(r));
    });
  }

  it('PHONE_NUMBER: precision and recall >= 0.95', () => {
    const r = pii.PHONE_NUMBER!;
    assert.ok(r.precision >= 0.95 && r.recall >= 0.95, JSON.stringify(r));
  });

  it('secrets: recall >= 0.99 and a false-positive rate <= 1% on look-alikes (UUIDs, hashes, placeholders, prose)', () => {
    const r = secrets.SECRET!;
    assert.ok(r.tp >= 100 && r.recall >= 0.99, JSON.stringify(r));
    const fpr = falsePositiveRate(samples, predict, isSecret);
    assert.ok(fpr <= 0.01, `false-positive rate ${fpr}`);
  });

  it('the negatives carry no finding of any type', () => {
    const noisy = samples.filter((s) => s.spans.length === 0).filter((s) => predict(s.text).length > 0);
    assert.ok(noisy.length / samples.filter((s) => s.spans.length === 0).length <= 0.01, noisy.slice(0, 5).map((s) => s.text).join(' | '));
  });
});

/**
 * The second corpus (faker-corpus.jsonl, scripts/gen-faker-corpus.ts): @faker-js/faker records in 11 locales with
 * addresses, postal codes, IDs, order numbers, timestamps, versions and hashes next to the PII; labels from the
 * generator. The thresholds are the goals.
 */
describe('detection quality on the Faker corpus (addresses and IDs next to PII)', () => {
  const faker = readFileSync(new URL('./faker-corpus.jsonl', import.meta.url), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Sample);
  const r = evaluate(faker, predict, { types: ['CREDIT_CARD', 'IBAN_CODE', 'EMAIL_ADDRESS', 'IP_ADDRESS', 'US_SSN', 'PHONE_NUMBER'] });
  for (const type of ['CREDIT_CARD', 'IBAN_CODE', 'EMAIL_ADDRESS', 'IP_ADDRESS', 'US_SSN']) {
    it(`${type}: precision and recall >= 0.99`, () => {
      assert.ok(r[type]!.tp >= 100, `enough samples (${r[type]!.tp})`);
      assert.ok(r[type]!.precision >= 0.99 && r[type]!.recall >= 0.99, JSON.stringify(r[type]));
    });
  }
  it('PHONE_NUMBER: precision and recall >= 0.95 among street numbers, postal codes and IDs', () => {
    assert.ok(r.PHONE_NUMBER!.tp >= 400 && r.PHONE_NUMBER!.precision >= 0.95 && r.PHONE_NUMBER!.recall >= 0.95, JSON.stringify(r.PHONE_NUMBER));
  });
});
