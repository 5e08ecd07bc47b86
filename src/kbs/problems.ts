/**
 * RFC 7807 problem+json for every KBS error, with stable type URIs
 * (https://teataster.dev/problems/<slug>) and the AttestError code beside them. Bodies carry what
 * failed in words, never secret values or reference values.
 */
import { AttestError, ErrorCode, isAttestError, type Violation } from '../core/index.ts';
import { PROBLEM_BASE, type Problem } from '../protocol/index.ts';

export class HttpProblem extends Error {
  readonly status: number;
  readonly slug: string;
  readonly title: string;
  readonly code: string;
  readonly extra: Record<string, unknown>;
  constructor(status: number, slug: string, title: string, detail: string, code: string, extra: Record<string, unknown> = {}) {
    super(detail);
    this.status = status;
    this.slug = slug;
    this.title = title;
    this.code = code;
    this.extra = extra;
  }
  toProblem(instance?: string): Problem {
    return { type: PROBLEM_BASE + this.slug, title: this.title, status: this.status, detail: this.message, code: this.code, ...(instance ? { instance } : {}), ...this.extra };
  }
}

export const problems = {
  badRequest: (detail: string, extra?: Record<string, unknown>) => new HttpProblem(400, 'bad-request', 'Malformed request', detail, ErrorCode.ProtocolError, extra),
  unsupportedVersion: (detail: string) => new HttpProblem(400, 'unsupported-protocol-version', 'Unsupported KBS protocol version', detail, ErrorCode.UnsupportedVersion),
  unsupportedTee: (detail: string) => new HttpProblem(400, 'unsupported-tee', 'Unsupported TEE', detail, ErrorCode.UnsupportedPlatform),
  noSession: (detail: string) => new HttpProblem(401, 'session-unknown', 'No valid KBS session', detail, ErrorCode.Unauthorized),
  sessionExpired: (detail: string) => new HttpProblem(401, 'session-expired', 'KBS session expired', detail, ErrorCode.Unauthorized),
  nonceReplayed: (detail: string) => new HttpProblem(401, 'nonce-replayed', 'Nonce already used', detail, ErrorCode.Unauthorized),
  nonceMismatch: (detail: string) => new HttpProblem(401, 'nonce-mismatch', 'Nonce does not match the session', detail, ErrorCode.BindingMismatch),
  unauthenticated: (detail: string) => new HttpProblem(401, 'unauthenticated', 'Authentication required', detail, ErrorCode.Unauthorized),
  tokenInvalid: (detail: string) => new HttpProblem(401, 'token-invalid', 'Token invalid', detail, ErrorCode.TokenInvalid),
  forbidden: (detail: string) => new HttpProblem(403, 'forbidden', 'Forbidden', detail, ErrorCode.Forbidden),
  notFound: (detail: string) => new HttpProblem(404, 'not-found', 'Not found', detail, ErrorCode.NotFound),
  tooLarge: (detail: string) => new HttpProblem(413, 'too-large', 'Request too large', detail, ErrorCode.LimitExceeded),
  internal: () => new HttpProblem(500, 'internal', 'Internal error', 'the KBS failed to process the request; the server log has the details', ErrorCode.Internal),
  unavailable: (detail: string) => new HttpProblem(503, 'unavailable', 'Service unavailable', detail, ErrorCode.Internal),
};

/** The rule list of a denial as it may be shown to the caller: rule ids and sentences only. */
export function publicViolations(v: readonly Violation[]): { rule: string; message: string }[] {
  return v.map((x) => ({ rule: x.rule, message: x.message }));
}

export function policyDenied(what: 'attestation' | 'resource', violations: { rule: string; message: string }[], extra: Record<string, unknown> = {}): HttpProblem {
  const detail = `${what === 'attestation' ? 'the attestation policy' : 'the resource policy'} denied the request: ${violations.map((v) => v.message).join('; ')}`;
  return new HttpProblem(403, what === 'attestation' ? 'attestation-policy-denied' : 'resource-policy-denied', 'Policy denied', detail, ErrorCode.PolicyDenied, { violations, ...extra });
}

/**
 * Attestation failures from the verifiers: malformed evidence is the client's syntax error (400);
 * everything that says "this evidence does not prove what it claims" is 401 so that RCAR clients
 * re-handshake as they do with Trustee; an unreachable vendor service is 503.
 */
export function fromAttestError(e: AttestError): HttpProblem {
  const slug = e.code.replace(/^ERR_/, '').toLowerCase().replace(/_/g, '-');
  switch (e.code) {
    case ErrorCode.EvidenceMalformed:
    case ErrorCode.UnsupportedVersion:
    case ErrorCode.UnsupportedPlatform:
    case ErrorCode.ProtocolError:
      return new HttpProblem(400, slug, 'Evidence rejected', e.message, e.code);
    case ErrorCode.CollateralUnavailable:
      return new HttpProblem(503, slug, 'Endorsements unavailable', e.message, e.code);
    case ErrorCode.PolicyDenied: {
      const v = (e.details.violations as Violation[] | undefined) ?? [];
      return policyDenied('attestation', publicViolations(v));
    }
    case ErrorCode.NotFound:
      return new HttpProblem(404, slug, 'Not found', e.message, e.code);
    case ErrorCode.ConfigInvalid:
    case ErrorCode.PolicyInvalid:
      return new HttpProblem(400, slug, 'Invalid input', e.message, e.code);
    case ErrorCode.LimitExceeded:
      return new HttpProblem(413, slug, 'Too large', e.message, e.code);
    case ErrorCode.Internal:
      return problems.internal();
    default:
      return new HttpProblem(401, slug, 'Attestation failed', e.message, e.code);
  }
}

/**
 * Any thrown value as the problem the client sees: an HttpProblem as it is, an AttestError through
 * fromAttestError, anything else a bare 500 (`unexpected`: the caller must log it, the client gets
 * no details).
 */
export function problemOf(e: unknown): { problem: HttpProblem; unexpected: boolean } {
  if (e instanceof HttpProblem) return { problem: e, unexpected: false };
  if (isAttestError(e)) return { problem: fromAttestError(e), unexpected: false };
  return { problem: problems.internal(), unexpected: true };
}
