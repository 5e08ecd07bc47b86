import { AttestError, ErrorCode } from '../core/index.ts';

/** The workload (bundle, module or manifest) is not what the tenant signed, or cannot run. */
export class WorkloadInvalid extends AttestError {
  constructor(field: string, reason: string, extra: Record<string, unknown> = {}) {
    super(ErrorCode.WorkloadInvalid, `workload invalid: ${field}: ${reason}`, { field, ...extra });
  }
}

/** A manifest limit was hit: `limit` is "memory_mb" or "timeout_s" (or "heap" for the worker's JS heap). */
export class LimitExceeded extends AttestError {
  constructor(limit: string, reason: string, extra: Record<string, unknown> = {}) {
    super(ErrorCode.LimitExceeded, `limit exceeded: ${limit}: ${reason}`, { limit, ...extra });
  }
}
