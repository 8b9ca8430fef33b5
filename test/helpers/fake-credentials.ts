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
  gcp: (): string => `AIza${randomChars(`${ALNUM}_-`, 35)}`,
  githubFineGrained: (): string => `github_pat_${randomChars(ALNUM, 22)}_${randomChars(ALNUM, 59)}`,
  gitlab: (): string => `glpat-${randomChars(ALNUM, 20)}`,
  anthropicLong: (): string => `sk-ant-api03-${randomChars(ALNUM, 64)}`,
  openaiLong: (): string => `sk-proj-${randomChars(ALNUM, 43)}`,
  slackWebhook: (): string => `https://hooks.slack.com/services/T${randomChars(ALNUM.slice(0, 26), 8)}/B${randomChars(ALNUM.slice(0, 26), 10)}/${randomChars(ALNUM, 24)}`,
  stripeLive: (): string => `sk_live_${randomChars(ALNUM, 32)}`,
  twilio: (): string => `SK${randomChars('0123456789abcdef', 32)}`,
  sendgrid: (): string => `SG.${randomChars(ALNUM, 22)}.${randomChars(ALNUM, 43)}`,
  npm: (): string => `npm_${randomChars(ALNUM, 36)}`,
  pypi: (): string => `pypi-AgE${randomChars(ALNUM, 64)}`,
  portcullis: (): string => `pcl_${randomChars('abcdefghijklmnopqrstuvwxyz0123456789', 8)}_${randomChars(ALNUM, 43)}`,
};
