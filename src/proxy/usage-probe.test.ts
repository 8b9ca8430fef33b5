import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withUsageRequested, withUsageRequestedBytes } from './usage-probe.ts';

describe('withUsageRequestedBytes: the usage probe as an edit of the client bytes', () => {
  it('gives the document withUsageRequested gives, the rest of the bytes unchanged', () => {
    for (const text of ['{}', ' { } \n', '{"model":"m","stream":true}', '{\n  "model": "m",\n  "messages": [{"role":"user","content":"}"}]\n}\n', '{"n":12345678901234567890,"x":1.0}']) {
      const raw = Buffer.from(text);
      const body = JSON.parse(text) as Record<string, unknown>;
      const out = withUsageRequestedBytes(raw, body)!;
      assert.deepEqual(JSON.parse(out.toString()), JSON.parse(JSON.stringify(withUsageRequested(body))));
      assert.ok(out.toString().startsWith(text.slice(0, text.lastIndexOf('}'))), 'the client bytes before the edit are kept');
    }
    assert.match(withUsageRequestedBytes(Buffer.from('{"n":12345678901234567890}'), { n: 1 })!.toString(), /12345678901234567890/);
  });

  it('leaves a body that has stream_options to the merge', () => {
    for (const so of ['null', '{}', '{"include_usage":false}']) {
      const text = `{"stream":true,"stream_options":${so}}`;
      assert.equal(withUsageRequestedBytes(Buffer.from(text), JSON.parse(text) as Record<string, unknown>), undefined);
    }
  });
});
