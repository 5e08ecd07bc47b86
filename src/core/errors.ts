/**
 * The error model (DESIGN.md "Errors"). Every failure surfaces as an AttestError whose `code` is a
 * stable API string; subclasses carry structured fields so callers never parse messages.
 * Verification throws, it never returns false.
 */

export const ErrorCode = {
  EvidenceMalformed: 'ERR_EVIDENCE_MALFORMED',
  UnsupportedVersion: 'ERR_UNSUPPORTED_VERSION',
  UnsupportedPlatform: 'ERR_UNSUPPORTED_PLATFORM',
  SignatureInvalid: 'ERR_SIGNATURE_INVALID',
  CertificateInvalid: 'ERR_CERTIFICATE_INVALID',
  RootNotTrusted: 'ERR_ROOT_NOT_TRUSTED',
  CertificateRevoked: 'ERR_CERTIFICATE_REVOKED',
  CollateralUnavailable: 'ERR_COLLATERAL_UNAVAILABLE',
  CollateralExpired: 'ERR_COLLATERAL_EXPIRED',
  CollateralInvalid: 'ERR_COLLATERAL_INVALID',
  TcbUnacceptable: 'ERR_TCB_UNACCEPTABLE',
  BindingMismatch: 'ERR_BINDING_MISMATCH',
  EvidenceExpired: 'ERR_EVIDENCE_EXPIRED',
  PolicyDenied: 'ERR_POLICY_DENIED',
  PolicyInvalid: 'ERR_POLICY_INVALID',
  DebugNotAllowed: 'ERR_DEBUG_NOT_ALLOWED',
  ProtocolError: 'ERR_PROTOCOL',
  DeviceError: 'ERR_DEVICE',
  ConfigInvalid: 'ERR_CONFIG_INVALID',
  NotFound: 'ERR_NOT_FOUND',
  Unauthorized: 'ERR_UNAUTHORIZED',
  Forbidden: 'ERR_FORBIDDEN',
  TokenInvalid: 'ERR_TOKEN_INVALID',
  WorkloadInvalid: 'ERR_WORKLOAD_INVALID',
  LimitExceeded: 'ERR_LIMIT_EXCEEDED',
  Internal: 'ERR_INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class AttestError extends Error {
  readonly code: ErrorCode;
  /** Structured details: JSON-safe values only (they reach CLI JSON and problem+json bodies). */
  readonly details: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export class EvidenceMalformed extends AttestError {
  constructor(tee: string, field: string, offset: number | undefined, reason: string) {
    super(ErrorCode.EvidenceMalformed, `${tee} evidence malformed: ${field}${offset === undefined ? '' : ` at offset 0x${offset.toString(16)}`}: ${reason}`, { tee, field, offset });
  }
}

export class UnsupportedVersion extends AttestError {
  constructor(tee: string, field: string, actual: number | string, supported: (number | string)[]) {
    super(ErrorCode.UnsupportedVersion, `${tee} ${field} ${actual} is not supported (supported: ${supported.join(', ')})`, { tee, field, actual, supported });
  }
}

export class UnsupportedPlatform extends AttestError {
  constructor(reason: string) {
    super(ErrorCode.UnsupportedPlatform, reason);
  }
}

export class SignatureInvalid extends AttestError {
  constructor(what: string, reason = 'signature does not verify under the expected key') {
    super(ErrorCode.SignatureInvalid, `${what}: ${reason}`, { what });
  }
}

export type CertRole = 'root' | 'intermediate' | 'leaf' | 'crl-signer' | 'tcb-signer' | string;

export class CertificateInvalid extends AttestError {
  constructor(role: CertRole, reason: string, extra: Record<string, unknown> = {}) {
    super(ErrorCode.CertificateInvalid, `${role} certificate invalid: ${reason}`, { role, reason, ...extra });
  }
}

export class RootNotTrusted extends AttestError {
  constructor(fingerprint: string, subject: string, expected: string) {
    super(ErrorCode.RootNotTrusted, `root certificate "${subject}" (SHA-256 ${fingerprint}) is not a pinned ${expected} root`, { fingerprint, subject, expected });
  }
}

export class CertificateRevoked extends AttestError {
  constructor(role: CertRole, serial: string, issuer: string, revokedAt?: string) {
    super(ErrorCode.CertificateRevoked, `${role} certificate serial ${serial} is revoked by the CRL of ${issuer}${revokedAt ? ` (since ${revokedAt})` : ''}`, { role, serial, issuer, revokedAt });
  }
}

export class CollateralUnavailable extends AttestError {
  constructor(what: string, url: string | undefined, reason: string) {
    super(ErrorCode.CollateralUnavailable, `${what} unavailable${url ? ` (${url})` : ''}: ${reason}`, { what, url });
  }
}

export class CollateralExpired extends AttestError {
  constructor(what: string, validFrom: string | undefined, validUntil: string | undefined, at: string) {
    super(ErrorCode.CollateralExpired, `${what} is not valid at ${at} (valid ${validFrom ?? '?'} .. ${validUntil ?? '?'})`, { what, validFrom, validUntil, at });
  }
}

export class CollateralInvalid extends AttestError {
  constructor(what: string, reason: string) {
    super(ErrorCode.CollateralInvalid, `${what} invalid: ${reason}`, { what });
  }
}

export class TcbUnacceptable extends AttestError {
  constructor(status: string, reason: string, extra: Record<string, unknown> = {}) {
    super(ErrorCode.TcbUnacceptable, `TCB unacceptable (${status}): ${reason}`, { status, ...extra });
  }
}

export class BindingMismatch extends AttestError {
  constructor(field: string, expected: string, actual: string) {
    super(ErrorCode.BindingMismatch, `${field} mismatch: expected ${expected}, got ${actual}`, { field, expected, actual });
  }
}

export class EvidenceExpired extends AttestError {
  constructor(reason: string, extra: Record<string, unknown> = {}) {
    super(ErrorCode.EvidenceExpired, reason, extra);
  }
}

export interface Violation {
  rule: string;
  message: string;
  claim?: string;
  expected?: unknown;
  actual?: unknown;
}

export class PolicyDenied extends AttestError {
  constructor(violations: Violation[], policyId?: string) {
    super(ErrorCode.PolicyDenied, `policy${policyId ? ` ${policyId}` : ''} denied: ${violations.map((v) => v.message).join('; ')}`, { violations, policyId });
  }
}

export class DebugNotAllowed extends AttestError {
  constructor(tee: string, what: string) {
    super(ErrorCode.DebugNotAllowed, `${tee}: ${what} is a debug TEE; debug TEEs are rejected unless explicitly allowed (--allow-debug or a policy)`, { tee });
  }
}

export class ProtocolError extends AttestError {
  constructor(reason: string, extra: Record<string, unknown> = {}) {
    super(ErrorCode.ProtocolError, reason, extra);
  }
}

export class DeviceError extends AttestError {
  constructor(device: string, reason: string, options?: { cause?: unknown }) {
    super(ErrorCode.DeviceError, `${device}: ${reason}`, { device }, options);
  }
}

export function isAttestError(e: unknown): e is AttestError {
  return e instanceof AttestError;
}

/** Wraps anything thrown by third-party code into an AttestError with the given code. */
export function asAttestError(e: unknown, fallback: (msg: string) => AttestError): AttestError {
  if (e instanceof AttestError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const wrapped = fallback(msg);
  return wrapped;
}
