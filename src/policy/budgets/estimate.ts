/**
 * A cheap pre-flight estimate of a request's input tokens (about 4 characters per token for English text and
 * code), used only to refuse a request that would clearly cross a token limit. The real count comes afterwards
 * from the provider's usage (BudgetEnforcer.record). Walks strings only; never tokenizes.
 */
export function estimateInputTokens(body: Readonly<Record<string, unknown>>, maxChars = 4_000_000): number {
  let chars = 0;
  const stack: unknown[] = [body.messages, body.system, body.input, body.prompt, body.instructions];
  while (stack.length > 0 && chars < maxChars) {
    const v = stack.pop();
    if (typeof v === 'string') chars += v.length;
    else if (Array.isArray(v)) stack.push(...(v as unknown[]));
    else if (v !== null && typeof v === 'object') stack.push(...(Object.values(v) as unknown[]));
  }
  return Math.ceil(chars / 4);
}
