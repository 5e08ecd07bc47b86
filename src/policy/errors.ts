/** Errors of the Trust stage; codes are the stable ones of src/core/errors.ts. */
import { AttestError, ErrorCode } from '../core/index.ts';

export interface PolicyProblem {
  /** Where in the document: 'platforms.snp.minTcb.snp', 'rules[2].expr'. */
  path: string;
  message: string;
  /** For CEL errors: the rule id and the position inside the expression (1-based line/column, 0-based offset). */
  rule?: string;
  position?: { offset: number; line: number; column: number };
  /** For CEL errors: the expression line with a caret under the error. */
  excerpt?: string;
  /** 1-based line in the policy file, when the document was parsed from text. */
  documentLine?: number;
}

export class PolicyInvalid extends AttestError {
  constructor(problems: PolicyProblem[], policyId?: string) {
    const first = problems.slice(0, 5).map((p) => `${p.path}${p.position ? ` (line ${p.position.line}, column ${p.position.column})` : ''}: ${p.message}`);
    super(ErrorCode.PolicyInvalid, `policy${policyId ? ` ${policyId}` : ''} is invalid: ${first.join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`, { problems, policyId });
  }
  get problems(): PolicyProblem[] {
    return this.details.problems as PolicyProblem[];
  }
}

export type TokenProblem = 'malformed' | 'signature' | 'unknown-key' | 'algorithm' | 'expired' | 'not-yet-valid' | 'claims' | 'profile' | 'key';

export class TokenInvalid extends AttestError {
  constructor(reason: TokenProblem, message: string, extra: Record<string, unknown> = {}) {
    super(ErrorCode.TokenInvalid, `attestation token invalid (${reason}): ${message}`, { reason, ...extra });
  }
  get reason(): TokenProblem {
    return this.details.reason as TokenProblem;
  }
}
