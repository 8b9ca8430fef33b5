import { DOMParser } from '@xmldom/xmldom';

const ASSERTION_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
const PROTOCOL_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';

export interface AssertionFacts {
  assertionId: string;
  /** Latest instant the assertion may be used (ms); bounds the replay-cache entry. */
  notOnOrAfter: number;
}

/**
 * Checks node-saml does not make, done on the signature-validated assertion XML it hands back:
 *  - SubjectConfirmationData@Recipient equals our ACS URL (SAML Profiles §4.1.4.2, bearer confirmation);
 *  - Response@Destination, when present, equals our ACS URL (SAML Bindings §3.5.5.2) — an assertion for another SP
 *    must not be replayed here;
 *  - the NameID is a single text node: a comment inside it (`alice@corp.com<!---->.evil.com`) survives exclusive
 *    canonicalization unchanged in signature terms but may be read differently by parsers (CVE-2017-11427 class).
 * Returns the facts, or a rejection reason.
 */
export function checkAssertionXml(x: { assertionXml: string; responseXml: string; acsUrl: string; nameId: string }): AssertionFacts | string {
  const parser = new DOMParser({ errorHandler: { warning: () => {}, error: () => {}, fatalError: () => {} } });
  const a = parser.parseFromString(x.assertionXml, 'text/xml').documentElement;
  if (!a || a.localName !== 'Assertion' || a.namespaceURI !== ASSERTION_NS) return 'no_assertion';
  const id = a.getAttribute('ID');
  if (!id) return 'no_assertion_id';
  const nameIds = a.getElementsByTagNameNS(ASSERTION_NS, 'NameID');
  if (nameIds.length !== 1) return 'bad_name_id';
  const n = nameIds.item(0)!;
  if (n.childNodes.length !== 1 || n.firstChild?.nodeType !== 3 || n.textContent !== x.nameId) return 'name_id_comment_or_markup';
  const confs = a.getElementsByTagNameNS(ASSERTION_NS, 'SubjectConfirmationData');
  let notOnOrAfter = 0;
  let recipientOk = false;
  for (let i = 0; i < confs.length; i++) {
    const c = confs.item(i)!;
    if (c.getAttribute('Recipient') === x.acsUrl) recipientOk = true;
    const t = Date.parse(c.getAttribute('NotOnOrAfter') ?? '');
    if (Number.isFinite(t)) notOnOrAfter = Math.max(notOnOrAfter, t);
  }
  if (!recipientOk) return 'wrong_recipient';
  const cond = a.getElementsByTagNameNS(ASSERTION_NS, 'Conditions').item(0);
  const ct = Date.parse(cond?.getAttribute('NotOnOrAfter') ?? '');
  if (Number.isFinite(ct)) notOnOrAfter = Math.max(notOnOrAfter, ct);
  const r = parser.parseFromString(x.responseXml, 'text/xml').documentElement;
  if (!r || r.localName !== 'Response' || r.namespaceURI !== PROTOCOL_NS) return 'no_response';
  // The signed view is canonicalized (comments dropped); the raw message must not smuggle markup into a NameID either.
  const rawNameIds = r.getElementsByTagNameNS(ASSERTION_NS, 'NameID');
  for (let i = 0; i < rawNameIds.length; i++) {
    const el = rawNameIds.item(i)!;
    if (el.childNodes.length !== 1 || el.firstChild?.nodeType !== 3) return 'name_id_comment_or_markup';
  }
  const dest = r.getAttribute('Destination');
  if (dest && dest !== x.acsUrl) return 'wrong_destination';
  return { assertionId: id, notOnOrAfter: notOnOrAfter || Date.now() + 3_600_000 };
}
