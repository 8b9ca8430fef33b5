/** The built-in detectors, by id. */
import type { CountryCode } from 'libphonenumber-js/max';
import { encodedSecrets } from './encoded.ts';
import { ID_DETECTORS } from './ids.ts';
import { phoneDetector } from './phone.ts';
import { card } from './card.ts';
import { crypto, email, iban, ipv4, ipv6, mac, usSsn } from './pii.ts';
import { databaseUrl, genericSecret, jwt, privateKey, PROVIDER_TOKENS, SECRET_DETECTORS, slackWebhook } from './secrets.ts';
import type { Detector } from './types.ts';

export interface BuiltInOptions {
  /** Regions for national-format phone numbers (ISO 3166 alpha-2); the first is the default. */
  readonly phoneRegions?: readonly string[];
  /** Look inside base64/hex blobs for secrets (default true). */
  readonly decodeBlobs?: boolean;
}

export function builtInDetectors(o: BuiltInOptions = {}): Detector[] {
  const blobInner = [...PROVIDER_TOKENS, slackWebhook, databaseUrl, genericSecret, privateKey, jwt];
  return [
    email, card, iban, usSsn, ipv4, ipv6, mac, crypto,
    phoneDetector(o.phoneRegions as readonly CountryCode[] | undefined),
    ...ID_DETECTORS,
    ...SECRET_DETECTORS,
    ...(o.decodeBlobs === false ? [] : [encodedSecrets(blobInner)]),
  ];
}

/** Every finding type a built-in detector can produce. */
export function builtInTypes(): string[] {
  return [...new Set(builtInDetectors().flatMap((d) => d.types))].sort();
}

export type { Detector };
