/**
 * The client tool behind a User-Agent, as a short family name for the `client` dimension: the SDKs and agents
 * people run, then the first product token (RFC 9110 §10.1.5: `product/version`) for anything else. Never the raw
 * header: a family is at most 32 characters of [a-z0-9._-], so a credential smuggled into the header cannot end up
 * in a rollup.
 */
const KNOWN: readonly [RegExp, string][] = [
  [/\bclaude-cli\//i, 'claude-code'],
  [/\bcodex[_-]?(cli[_-]rs|exec)?\//i, 'codex'],
  [/\bai-sdk\//i, 'vercel-ai-sdk'],
  [/\blangchain/i, 'langchain'],
  [/^OpenAI\/Python/i, 'openai-python'],
  [/^OpenAI\/JS/i, 'openai-js'],
  [/^Anthropic\/Python/i, 'anthropic-python'],
  [/^Anthropic\/JS/i, 'anthropic-js'],
  [/^portcullis\//i, 'portcullis-cli'],
];

export function clientFamily(userAgent: string | null): string {
  if (!userAgent) return 'unknown';
  for (const [re, name] of KNOWN) if (re.test(userAgent)) return name;
  const product = /^([A-Za-z0-9._-]{1,32})(?:\/|\s|$)/.exec(userAgent.trim());
  return product ? product[1]!.toLowerCase() : 'other';
}
