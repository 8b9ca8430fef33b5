import type { Family } from '../endpoints.ts';
import { anthropicProtocol } from './anthropic.ts';
import { openaiProtocol } from './openai.ts';
import type { Protocol } from './types.ts';

export function protocolFor(family: Family): Protocol {
  return family === 'anthropic' ? anthropicProtocol : openaiProtocol;
}
