/**
 * Built-in secret detectors: provider keys with a documented prefix (high confidence), keys recognisable only by
 * context (AWS secret keys, Azure and Twilio hex keys), private keys and JWTs (unbounded: the streaming
 * transformer holds them from their start marker), credentials in URLs and connection strings, and a generic
 * high-entropy rule gated by keyword context and stopwords. Tokens are anchored at token starts (a negative
 * lookbehind on the token alphabet), so within one run of token characters only one match can start: linear time.
 */
import { entropy, looksRandom, patternDetector, type Candidate, type Detector } from './types.ts';

const TOKEN = 'A-Za-z0-9_-';
const tokenStart = `(?<![${TOKEN}])`;
const tokenEnd = `(?![${TOKEN}])`;

interface TokenSpec {
  id: string;
  type: string;
  body: string;
  maxLength: number;
  score?: number;
  /** Also require random-looking characters after this many prefix characters. */
  randomFrom?: number;
  /**
   * Shannon entropy (bits/char) the random part must reach (default 3). A short random string or a small alphabet
   * scores lower by chance, so tokens that are both get a floor below the lowest of 3 million random draws of
   * their shape: 16 base32 characters (AWS) 2.217, 32 hex (Twilio) 2.673; 20+ of [A-Za-z0-9_-] never fell below
   * 3.08. The default 3 wrongly dropped 0.35 % of real AWS access key ids.
   */
  minEntropy?: number;
  open?: boolean;
  anchors: readonly string[];
  /** The body begins with one of the anchors (default): the pattern is tried only where one occurs. */
  anchorsLead?: false;
}

function token(s: TokenSpec): Detector {
  return patternDetector({
    id: s.id,
    type: s.type,
    re: new RegExp(tokenStart + s.body + (s.open ? '' : tokenEnd), 'g'),
    score: s.score ?? 0.95,
    maxLength: s.maxLength,
    priority: 5,
    anchors: s.anchors,
    ...(s.anchorsLead === false ? {} : { leads: { words: s.anchors, caseSensitive: true } }),
    ...(s.randomFrom !== undefined ? { validate: (v: string) => looksRandom(v.slice(s.randomFrom), s.minEntropy ?? 3) } : {}),
  });
}

export const PROVIDER_TOKENS: readonly Detector[] = [
  token({ id: 'secret.anthropic', anchors: ['sk-ant-'], type: 'SECRET_ANTHROPIC_KEY', body: 'sk-ant-(?:api|admin|sid|oat|ort)[0-9]{2}-[A-Za-z0-9_-]{32,200}', maxLength: 220, score: 1 }),
  token({ id: 'secret.openai', anchors: ['sk-'], type: 'SECRET_OPENAI_KEY', body: 'sk-(?!ant-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,200}', maxLength: 215, randomFrom: 3 }),
  token({ id: 'secret.aws_access_key', anchors: ['AKIA', 'ASIA', 'ABIA', 'ACCA', 'AGPA', 'AIDA', 'AIPA', 'ANPA', 'ANVA', 'APKA', 'AROA', 'ASCA'], type: 'SECRET_AWS_ACCESS_KEY', body: '(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z2-7]{16}', maxLength: 20, randomFrom: 4, minEntropy: 2 }),
  token({ id: 'secret.gcp_api_key', anchors: ['AIza'], type: 'SECRET_GCP_API_KEY', body: 'AIza[A-Za-z0-9_-]{35}', maxLength: 39 }),
  token({ id: 'secret.github', anchors: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'], type: 'SECRET_GITHUB_TOKEN', body: '(?:gh[pousr]_[A-Za-z0-9]{36,76}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})', maxLength: 93, randomFrom: 4 }),
  token({ id: 'secret.gitlab', anchors: ['gl'], type: 'SECRET_GITLAB_TOKEN', body: 'gl(?:pat|ptt|dt|rt|cbt|oas|soat|ffct|imt|agent|feed|ft)-[A-Za-z0-9_-]{20,64}', maxLength: 75, randomFrom: 6 }),
  token({ id: 'secret.slack', anchors: ['xox', 'xapp-'], type: 'SECRET_SLACK_TOKEN', body: '(?:xox[abposre]-[0-9A-Za-z-]{10,250}|xapp-[0-9]-[A-Z0-9]{8,16}-[0-9]{8,16}-[a-f0-9]{32,80})', maxLength: 255 }),
  token({ id: 'secret.stripe', anchors: ['_live_', '_test_', 'whsec_'], anchorsLead: false, type: 'SECRET_STRIPE_KEY', body: '(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,247}|whsec_[A-Za-z0-9]{32,64}', maxLength: 255, randomFrom: 8 }),
  token({ id: 'secret.twilio', anchors: ['SK'], type: 'SECRET_TWILIO_KEY', body: 'SK[0-9a-fA-F]{32}', maxLength: 34, score: 0.85, randomFrom: 2, minEntropy: 2.5 }),
  token({ id: 'secret.sendgrid', anchors: ['SG.'], type: 'SECRET_SENDGRID_KEY', body: 'SG\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}', maxLength: 69 }),
  token({ id: 'secret.npm', anchors: ['npm_'], type: 'SECRET_NPM_TOKEN', body: 'npm_[A-Za-z0-9]{36}', maxLength: 40, randomFrom: 4 }),
  token({ id: 'secret.pypi', anchors: ['pypi-'], type: 'SECRET_PYPI_TOKEN', body: 'pypi-AgE[A-Za-z0-9_-]{50,250}', maxLength: 258 }),
  token({ id: 'secret.huggingface', anchors: ['hf_'], type: 'SECRET_HUGGINGFACE_TOKEN', body: 'hf_[A-Za-z0-9]{34,40}', maxLength: 43, randomFrom: 3 }),
  token({ id: 'secret.portcullis', anchors: ['pcl_', 'pct_', 'pcr_'], type: 'SECRET_PORTCULLIS_KEY', body: '(?:pcl_[a-z0-9]{8}_[A-Za-z0-9_-]{43}|pc[tr]_[0-9a-f]{24}_[A-Za-z0-9_-]{43})', maxLength: 72, score: 1 }),
];

export const slackWebhook = patternDetector({
  id: 'secret.slack_webhook',
  anchors: ['hooks.slack.com'],
  type: 'SECRET_SLACK_WEBHOOK',
  re: /https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_/-]{20,160}/g,
  score: 1,
  maxLength: 200,
  priority: 6,
});

export const azureConnectionString = patternDetector({
  id: 'secret.azure_connection_string',
  anchors: ['AccountKey=', 'SharedAccess'],
  type: 'SECRET_AZURE_CONNECTION_STRING',
  re: /(?:AccountKey|SharedAccessKey|SharedAccessSignature)=([A-Za-z0-9+/%&=:-]{20,120})/g,
  score: 0.95,
  maxLength: 150,
  priority: 6,
  group: 1,
});

/** Credentials in URLs: scheme://user:password@host (RFC 3986 §3.2.1 userinfo). Only the password is reported. */
export const databaseUrl = patternDetector({
  id: 'secret.database_url',
  anchors: ['://'],
  type: 'SECRET_DATABASE_URL',
  re: /(?<![A-Za-z0-9+.-])(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|rediss|amqps?|mssql|sqlserver|clickhouse|cockroachdb|oracle|jdbc:[a-z]{2,12}|https?|ftp|smtps?):\/\/[^\s:/@]{0,64}:([^\s/@]{1,128})@[A-Za-z0-9.-]{1,120}/g,
  score: 1,
  maxLength: 340,
  priority: 6,
  group: 1,
  validate: (_v, m) => !isPlaceholder(m[1]!),
});

/** ADO.NET / ODBC connection strings: `Password=...;`. */
export const connectionStringPassword = patternDetector({
  id: 'secret.connection_string',
  requires: ['password=', 'pwd='],
  type: 'SECRET_DATABASE_URL',
  re: /(?<![A-Za-z_])(?:Password|Pwd)=([^;\s"']{3,128})/gi,
  score: 0.85,
  maxLength: 140,
  priority: 5,
  group: 1,
  validate: (_v, m) => !isPlaceholder(m[1]!),
});

export const awsSecretKey = patternDetector({
  id: 'secret.aws_secret_key',
  type: 'SECRET_AWS_SECRET_KEY',
  re: /(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g,
  score: 0.3,
  maxLength: 40,
  priority: 4,
  requires: ['aws', 'secret'],
  context: [{ words: ['aws_secret', 'secret_access_key', 'secretaccesskey', 'aws secret', 'secret access key', 'aws'], boost: 0.6, window: 64 }],
  validate: (v) => /[a-z]/.test(v) && /[A-Z]/.test(v) && /[0-9]/.test(v) && entropy(v) >= 4,
});

export const contextHexKey = patternDetector({
  id: 'secret.context_hex',
  type: 'SECRET_API_KEY',
  re: /(?<![A-Za-z0-9])[0-9a-fA-F]{32}(?![A-Za-z0-9])/g,
  score: 0.2,
  maxLength: 32,
  priority: 2,
  requires: ['azure', 'ocp-apim', 'api-key', 'api_key', 'apikey', 'twilio', 'auth_token', 'subscription'],
  context: [{ words: ['azure', 'ocp-apim-subscription-key', 'api-key', 'api_key', 'apikey', 'twilio', 'auth_token', 'subscription key'], boost: 0.6, window: 64 }],
  validate: (v) => /[0-9]/.test(v) && /[a-fA-F]/.test(v) && entropy(v) >= 3,
});

/** GCP service-account JSON: the key id (the private key itself is a PEM block, found by `privateKey`). */
export const gcpServiceAccount = patternDetector({
  id: 'secret.gcp_service_account',
  anchors: ['private_key_id'],
  type: 'SECRET_GCP_SERVICE_ACCOUNT',
  re: /\\?"private_key_id\\?"\s{0,4}:\s{0,4}\\?"([0-9a-f]{40})\\?"/g,
  score: 0.95,
  maxLength: 70,
  priority: 6,
  group: 1,
});

const STOPWORDS = ['example', 'placeholder', 'your', 'xxxx', '****', 'redacted', 'changeme_', 'dummy', 'sample', 'fake', 'null', 'none', 'undefined', 'true', 'false', 'process.env', 'os.environ', 'getenv', 'secret_key_here', 'insert', 'todo'];
function isPlaceholder(v: string): boolean {
  const l = v.toLowerCase();
  return /^[<{$%[(]|\.\.\.|^\*+$/.test(v) || STOPWORDS.some((w) => l.includes(w));
}

/** A value assigned to a secret-named key: `api_key = "..."`, `"password": "..."`, `token: ...`. */
export const genericSecret = patternDetector({
  id: 'secret.generic',
  requires: ['secret', 'token', 'passw', 'pwd', 'api', 'key', 'credential', 'auth'],
  // The words the pattern's alternatives begin with: it is tried only where one occurs.
  leads: { words: ['secret', 'token', 'passw', 'pwd', 'api', 'access', 'private', 'client', 'credential', 'auth'], caseSensitive: false },
  type: 'SECRET_GENERIC',
  re: /(secret|token|passw(?:or)?d|pwd|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credential|auth)[A-Za-z0-9_.-]{0,24}["']?\s{0,3}(?::=|=>|[:=])\s{0,3}["'`]?([^\s"'`,;=]{8,128}={0,2})/gi,
  score: 0.75,
  maxLength: 24 + 24 + 12 + 128,
  priority: 0,
  group: 2,
  rescanOnReject: true,
  validate: (_v, m) => {
    const value = m[2]!;
    if (isPlaceholder(value)) return false;
    if (/passw|pwd/i.test(m[1]!)) return value.length >= 8 && !/^[a-z]+$/i.test(value);
    return looksRandom(value, 3.2) && /[0-9]/.test(value);
  },
});

/** PEM private keys (RFC 7468): held in streams from the BEGIN line; an unterminated block is reported up to where its body ends. */
const PEM_BEGIN = /-----BEGIN[ A-Z0-9]{0,30} PRIVATE KEY(?: BLOCK)?-----/g;
const PEM_END = /-----END[ A-Z0-9]{0,30} PRIVATE KEY(?: BLOCK)?-----/y;
const PEM_CAP = 16384;
export const privateKey: Detector = {
  id: 'secret.private_key',
  anchors: ['-----BEGIN'],
  types: ['SECRET_PRIVATE_KEY'],
  maxLength: Infinity,
  priority: 7,
  unbounded: { startMarker: /-----BEGIN[ A-Z0-9]{0,30} PRIVATE KEY(?: BLOCK)?-----/, cap: PEM_CAP },
  find(text, out) {
    let nextEnd = -2; // cached position of the next "-----END" (-1: none left), so the text is searched once
    PEM_BEGIN.lastIndex = 0;
    for (let m = PEM_BEGIN.exec(text); m; m = PEM_BEGIN.exec(text)) {
      const bodyAt = m.index + m[0].length;
      if (nextEnd !== -1 && nextEnd < bodyAt) nextEnd = text.indexOf('-----END', bodyAt);
      let end = -1;
      if (nextEnd >= 0 && nextEnd - bodyAt <= PEM_CAP) {
        PEM_END.lastIndex = nextEnd;
        const e = PEM_END.exec(text);
        if (e) end = nextEnd + e[0].length;
      }
      const complete = end >= 0;
      // Unterminated (truncated, or still streaming): everything after BEGIN is treated as key material, so a
      // stream keeps holding it and a request masks the rest rather than leak lines after a legacy header.
      if (!complete) end = text.length;
      out.push({ type: 'SECRET_PRIVATE_KEY', start: m.index, end, score: complete ? 1 : 0.9, detector: 'secret.private_key' });
      PEM_BEGIN.lastIndex = end;
    }
  },
};

/** JWS compact serialization (RFC 7515 §7.1): the payload is a base64url JSON object, so it starts with `eyJ`. */
const JWT_RE = new RegExp(`${tokenStart}[${TOKEN}]{2,4000}\\.eyJ[${TOKEN}]{2,16000}\\.[${TOKEN}]{0,8000}`, 'g');
export const jwt: Detector = {
  id: 'secret.jwt',
  anchors: ['.eyJ'],
  types: ['SECRET_JWT'],
  maxLength: Infinity,
  priority: 5,
  unbounded: { startMarker: /(?<=[A-Za-z0-9_-]{4})\.eyJ[A-Za-z0-9_-]{4}/, cap: 16384 },
  find(text, out) {
    JWT_RE.lastIndex = 0;
    for (let m = JWT_RE.exec(text); m; m = JWT_RE.exec(text)) {
      const [head, payload] = m[0].split('.');
      const decodes = isJsonObject(payload!) && (!head!.startsWith('eyJ') || isJsonObject(head!));
      out.push({ type: 'SECRET_JWT', start: m.index, end: m.index + m[0].length, score: decodes ? 0.95 : 0.6, detector: 'secret.jwt' });
    }
  },
};

function isJsonObject(b64: string): boolean {
  try {
    const v: unknown = JSON.parse(Buffer.from(b64, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null;
  } catch {
    return false;
  }
}

export const SECRET_DETECTORS: readonly Detector[] = [
  ...PROVIDER_TOKENS, slackWebhook, azureConnectionString, databaseUrl, connectionStringPassword, awsSecretKey,
  contextHexKey, gcpServiceAccount, genericSecret, privateKey, jwt,
];

export type { Candidate };
