/**
 * Shapes shared by the protocol content walkers: which API, the options the proxy passes, and what comes back.
 * Pure types.
 */
import type { GatewayError } from '../../core/errors.ts';
import type { Direction } from '../../core/findings.ts';
import type { ActionResolver, AppliedFinding } from '../actions.ts';
import type { ConversationTokenizer } from '../tokenize/tokenizer.ts';
import type { Scanner } from '../types.ts';

export type Api = 'openai.chat' | 'openai.responses' | 'openai.embeddings' | 'openai.completions' | 'anthropic.messages';

/** `json`: the text is raw JSON (tool-call arguments as the model wrote them). */
export type TextKind = 'text' | 'json';

export interface ContentOptions {
  /** Compiled scanners per direction; a direction without one is not scanned (tokens are still restored). */
  readonly scanners: { readonly request?: Scanner | undefined; readonly response?: Scanner | undefined };
  /** Policy: the action for a finding in a direction; `undefined` drops the finding. */
  readonly actionFor: ActionResolver;
  /** The conversation's tokenizer: mints placeholders in requests, restores them in answers. */
  readonly tokenizer?: ConversationTokenizer | undefined;
  /** Response-side `tokenize` mints placeholders for the caller to keep (MCP results) instead of masking. */
  readonly tokenizeResponses?: boolean | undefined;
  /** Streams: an unbounded match (PEM, JWT) left open past its cap when `actionFor` has no rule. Default 'mask'. */
  readonly unterminated?: 'block' | 'mask' | undefined;
  /** Streams: released characters given to the scanner as left context. Default 32. */
  readonly contextChars?: number | undefined;
}

/** An applied finding located in the message: `path` like `messages[2].content[0].text`. */
export interface ContentFinding extends AppliedFinding {
  readonly path: string;
  readonly direction: Direction;
}

export interface TransformResult {
  /** A transformed copy (the input is never mutated); the same object when nothing changed. */
  readonly body: unknown;
  readonly changed: boolean;
  readonly findings: readonly ContentFinding[];
  /** Set when a `block` finding was present: refuse with this error (names types and rules, never values). */
  readonly blocked?: GatewayError;
  /** Paths that carry content the gateway cannot read (token-id arrays): policy decides whether to refuse. */
  readonly unscanned: readonly string[];
}

/** The walker's view of one exchange direction: every text goes through `text`. */
export interface TextSink {
  text(value: string, path: string, kind: TextKind): string;
  unscanned(path: string): void;
}

/** One parsed SSE event: `data` is the parsed JSON or the string `[DONE]` (matches proxy/guard.ts ParsedEvent). */
export interface StreamEvent {
  event?: string | undefined;
  data: unknown;
}

export interface StreamRewriter {
  /** The events to emit for one upstream event, in order (none while text is held, several when flushing). */
  onEvent(ev: StreamEvent): StreamEvent[];
  /** Flush channels still open when the upstream ended. */
  end(): StreamEvent[];
  /** Findings acted on so far (response direction). */
  readonly findings: readonly ContentFinding[];
  /** Largest number of characters held back by any channel. */
  readonly maxHeld: number;
}
