/**
 * The gateway config's `detection:` section (docs/detection.md#external-recognizer, #names). What to detect and
 * what to do is policy (`content:`); this section only says where the external recognizer runs, because its URL
 * and credentials are the operator's, not the policy author's, and whether the optional names recognizer (an
 * optional npm dependency, loaded at start) is on.
 */
export interface DetectionConfig {
  names?: {
    /** Load the built-in PERSON/LOCATION recognizer (src/detect/ner/); needs the `compromise` package. */
    enabled: boolean;
  };
  external?: {
    /** Base URL of a Presidio analyzer (`POST {url}/analyze`). */
    url: string;
    timeout_ms: number;
    language: string;
    /** Extra request headers (e.g. an API gateway key; `env:`/`file:` references resolved at start). */
    headers?: Record<string, string>;
    cache_entries: number;
    max_texts: number;
    max_chars: number;
  };
}

export const detectionConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    names: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', default: false, description: 'built-in PERSON/LOCATION recognizer (npm package compromise)' },
      },
    },
    external: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', pattern: '^https?://', description: 'Presidio analyzer base URL' },
        timeout_ms: { type: 'integer', minimum: 1, maximum: 60_000, default: 2000, description: 'per call; a timeout refuses the request' },
        language: { type: 'string', minLength: 2, maxLength: 16, default: 'en' },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
        cache_entries: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 2000, description: 'answers cached per text (0 disables)' },
        max_texts: { type: 'integer', minimum: 1, maximum: 100_000, default: 256, description: 'more texts in one request are refused' },
        max_chars: { type: 'integer', minimum: 1, maximum: 100_000_000, default: 200_000, description: 'more characters in one request are refused' },
      },
    },
  },
} as const;
