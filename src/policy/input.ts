import type { PrincipalKind } from '../core/principal.ts';

/** What the engine decides on: everything is already extracted from the exchange (the engine does no I/O). */
export interface PolicyInput {
  principal: {
    subject: string;
    kind: PrincipalKind;
    groups: readonly string[];
    claims?: Readonly<Record<string, unknown>> | undefined;
  };
  resource: {
    provider: string;
    /** The client-facing model name. */
    model: string;
    /** Endpoint id, e.g. `openai.chat`, `anthropic.messages`. */
    endpoint: string;
  };
  request: RequestFeatures;
  context: {
    /** Epoch ms. */
    now: number;
    clientIp?: string | undefined;
    userAgent?: string | undefined;
  };
  /** Finding types detected in the request (values are never part of the input). */
  findings: readonly { type: string }[];
  /** A sensitivity label the client sent (header or metadata), if any. */
  label?: string | undefined;
}

/** Features of the request a rule can bound. */
export interface RequestFeatures {
  stream: boolean;
  tools: boolean;
  images: boolean;
  files: boolean;
  maxTokens: number | null;
  temperature: number | null;
  /** The request invokes an approved prompt template (header or metadata; docs/templates.md). */
  template: boolean;
}

export const NO_FEATURES: RequestFeatures = { stream: false, tools: false, images: false, files: false, maxTokens: null, temperature: null, template: false };
