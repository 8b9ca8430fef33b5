import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseJsonExact } from '../core/json-exact.ts';
import { requestFeatures } from './request-features.ts';

describe('requestFeatures', () => {
  it('reads numbers kept exact: the policy sees their double value, and what overflows as the largest double, not null', () => {
    const body = parseJsonExact('{"model":"m","max_tokens":1e400,"temperature":0.70000000000000000000001}') as Record<string, unknown>;
    const f = requestFeatures(body, false);
    assert.equal(f.maxTokens, Number.MAX_VALUE);
    assert.equal(f.temperature, 0.7);
    const big = requestFeatures(parseJsonExact('{"max_completion_tokens":99999999999999999999}') as Record<string, unknown>, false);
    assert.equal(big.maxTokens, 1e20);
    assert.equal(requestFeatures({ max_tokens: '5' }, false).maxTokens, null);
  });
});
