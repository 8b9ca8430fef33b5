/**
 * Alert rules and investigations (docs/alerts.md). Pure types; the store engines implement AlertRepo
 * (src/store/{sqlite,postgres}/alerts.ts) and pass one conformance suite (test/alerts/repo-conformance.test.ts).
 */
import type { AlertResponse, AlertSeverity, RuleKind } from './config-schema.ts';

/** The fields of a finished exchange the rules read (both engines select exactly these). */
export interface AlertSource {
  id: string;
  /** When it finished (a refusal: when it was refused); windows are counted on this time. */
  at: number;
  subject: string | null;
  groups: string[];
  credentialId: string | null;
  model: string | null;
  userAgent: string | null;
  clientIp: string | null;
  status: string;
  errorCode: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  findingTypes: string[];
}

/**
 * One exchange counting toward one rule for one subject. `subject` groups what is counted together
 * (`user:alice`, `group:eng`, `*`, `credential:<id>`); `identity` is the caller, the one a response suspends.
 * Threshold rules add `weight` (1 per exchange, findings per finding, micro-dollars for spend); novelty rules
 * carry the `value` seen (a client tool family, a network).
 */
export interface Hit {
  ruleId: string;
  subject: string;
  identity: string | null;
  at: number;
  exchangeId: string;
  weight: number;
  value?: string;
}

/** A compiled rule: what the evaluator and the store need, no config shapes. */
export interface AlertRule {
  id: string;
  kind: RuleKind;
  description: string;
  severity: AlertSeverity;
  respond: AlertResponse;
  /** respond require_approval: the approver groups (empty otherwise). */
  approvers: string[];
  /** `threshold`: fire when the weights in a window reach `threshold`; `novel`: fire on a value not seen before. */
  mode: 'threshold' | 'novel';
  /** In weight units (micro-dollars for spend). */
  threshold: number;
  /** Sliding window length, or `day`: the UTC calendar day. */
  window: number | 'day';
}

export const INVESTIGATION_STATES = ['open', 'assigned', 'closed'] as const;
export type InvestigationState = (typeof INVESTIGATION_STATES)[number];

export interface InvestigationNote {
  id: string;
  at: number;
  author: string;
  text: string;
}

export interface Investigation {
  id: string;
  ruleId: string;
  kind: RuleKind;
  severity: AlertSeverity;
  subject: string;
  identity: string | null;
  /** With rule and subject, the store-side unique firing key: a firing is inserted once across replicas. */
  windowKey: string;
  openedAt: number;
  state: InvestigationState;
  assignee: string | null;
  closedAt: number | null;
  closedBy: string | null;
  resolution: string | null;
  summary: string;
  /** The exchanges that made it fire (at most MAX_LINKED, oldest first). */
  exchangeIds: string[];
  /** The automatic response applied when it fired. */
  response: AlertResponse;
  notes: InvestigationNote[];
}

/** A firing found by the store while applying hits: the investigation it opened. */
export type Firing = Omit<Investigation, 'notes' | 'state' | 'assignee' | 'closedAt' | 'closedBy' | 'resolution'>;

/**
 * An identity an alert rule responded to, until an administrator lifts it: `suspend` refuses every request,
 * `require_approval` holds each for a just-in-time approval by `approvers`. One row per identity (the latest
 * firing's response wins), one lift for both.
 */
export interface Suspension {
  identity: string;
  investigationId: string | null;
  since: number;
  mode: 'suspend' | 'require_approval';
  /** mode require_approval: the approver groups. */
  approvers: string[];
}

export const MAX_LINKED = 100;

export interface InvestigationFilter {
  state?: InvestigationState;
  identity?: string;
  /** Opened before this investigation id (pagination; ids sort by time). */
  before?: string;
  limit: number;
}

export interface AlertRepo {
  /**
   * Evaluates up to `limit` finished exchanges not yet evaluated, exactly once across replicas: `hitsOf` turns their
   * rows into hits; the hits, the firings they cause (unique per rule + subject + window), the suspensions of
   * rules that respond, and the exchanges' `alerted` flags commit together. Returns how many exchanges and the
   * investigations opened.
   */
  evaluate(limit: number, rules: ReadonlyMap<string, AlertRule>, hitsOf: (rows: AlertSource[]) => Hit[], now: number): Promise<{ evaluated: number; opened: Firing[] }>;
  list(f: InvestigationFilter): Promise<Investigation[]>;
  get(id: string): Promise<Investigation | undefined>;
  /** Returns the updated investigation, or undefined when it does not exist or is closed. */
  assign(id: string, assignee: string, at: number): Promise<Investigation | undefined>;
  note(id: string, note: InvestigationNote): Promise<Investigation | undefined>;
  close(id: string, by: string, resolution: string, at: number): Promise<Investigation | undefined>;
  /** Firings whose notifications (trail, event, webhooks) were not confirmed, opened before `before`. */
  unnotified(before: number, limit: number): Promise<Firing[]>;
  markNotified(id: string, at: number): Promise<void>;
  suspensions(): Promise<Suspension[]>;
  /** Ends a suspension; false when the identity was not suspended. */
  lift(identity: string, by: string, at: number): Promise<boolean>;
  /** Deletes hits older than `before` (past every window); returns how many. */
  prune(before: number): Promise<number>;
}
