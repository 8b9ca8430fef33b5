import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryTokenVault, type TokenEntry } from '../detect/tokenize/vault.ts';
import { conversationOf, McpTokens, type TokenScope } from './tokens.ts';

const call = { subject: 'alice', server: 'mail', clientSession: 'pcs1.s1', exchangeId: 'ex_1' };
const domains: Record<string, string> = { mail: 'crm', crm: 'crm', web: 'web' };
const caller: TokenScope = { scope: 'caller', domainOf: (s) => domains[s] ?? s };

describe('MCP token scope', () => {
  it('caller: one conversation per identity and token domain, whatever the session; session: per server and session', () => {
    assert.equal(conversationOf(caller, call), conversationOf(caller, { ...call, server: 'crm', clientSession: undefined, exchangeId: 'ex_2' }));
    assert.notEqual(conversationOf(caller, call), conversationOf(caller, { ...call, server: 'web' }));
    assert.notEqual(conversationOf(caller, call), conversationOf(caller, { ...call, subject: 'bob' }));
    const session: TokenScope = { ...caller, scope: 'session' };
    assert.notEqual(conversationOf(session, call), conversationOf(session, { ...call, clientSession: 'pcs1.s2' }));
    assert.notEqual(conversationOf(session, call), conversationOf(session, { ...call, server: 'crm' }));
    // A call without a session has placeholders of its own under `session` (nothing later can restore them).
    assert.notEqual(conversationOf(session, { ...call, clientSession: undefined }), conversationOf(session, { ...call, clientSession: undefined, exchangeId: 'ex_2' }));
  });

  it('decide: two calls minting the same placeholder at once are reconciled: the second is decided again on the reloaded conversation', async () => {
    const memory = new MemoryTokenVault();
    const conv = conversationOf(caller, call);
    let raced = false;
    // Another session of the identity stores its value under the same placeholder between this call's load and save.
    const vault = {
      get: (c: string) => memory.get(c),
      put: async (c: string, entries: readonly TokenEntry[]) => {
        if (!raced) {
          raced = true;
          await memory.put(c, [{ placeholder: '\u27e6EMAIL_ADDRESS_1\u27e7', value: 'a@example.com', type: 'EMAIL_ADDRESS' }]);
        }
        await memory.put(c, entries);
      },
    };
    let runs = 0;
    const { tokens, result } = await McpTokens.decide(vault, conv, (t) => {
      runs++;
      return t.tokenizer.tokenize('EMAIL_ADDRESS', 'b@example.com');
    });
    assert.equal(runs, 2);
    assert.equal(result, '\u27e6EMAIL_ADDRESS_2\u27e7');
    assert.equal(tokens.tokenizer.restore('\u27e6EMAIL_ADDRESS_1\u27e7'), 'a@example.com');
    assert.equal((await memory.get(conv)).length, 2);
  });
});
