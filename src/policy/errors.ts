/** A problem in a policy document, located by key path (and line, when the YAML source is known). */
export interface PolicyIssue {
  path: string;
  message: string;
  line?: number;
}

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  readonly issues: PolicyIssue[];
  constructor(file: string, issues: PolicyIssue[]) {
    super(`invalid policy ${file}:\n` + issues.map((i) => `  ${file}${i.line ? `:${i.line}` : ''} ${i.path}: ${i.message}`).join('\n'));
    this.issues = issues;
  }
}

/** A compile problem located by key path (the loader adds the line). */
export class PathError extends TypeError {
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.path = path;
  }
}
