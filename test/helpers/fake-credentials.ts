import { randomInt } from 'node:crypto';

/**
 * Credential-shaped test values, made at run time: random, never a live secret, and never committed in a shape a
 * secret scanner would take for one. Each has the prefix and length the detectors and sanitizers look for.
 */
export const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const randomChars = (alphabet: string, n: number): string => Array.from({ length: n }, () => alphabet[randomInt(alphabet.length)]).join('');

export const fakeCredential = {
  aws: (): string => `AKIA${randomChars('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`,
  github: (): string => `ghp_${randomChars(ALNUM, 36)}`,
  openaiProject: (): string => `sk-proj-${randomChars(ALNUM, 32)}`,
  anthropic: (): string => `sk-ant-api03-${randomChars(ALNUM, 22)}`,
  slackBot: (): string => `xoxb-${randomChars('0123456789', 10)}-${randomChars(ALNUM, 16)}`,
  live: (): string => `sk-live-${randomChars(ALNUM, 24)}`,
};
