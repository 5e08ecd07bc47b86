/** Public face of the Trust stage (docs/policy.md): policies, reference values, appraisal, EAR tokens, signing keys. */
export * from './trust.ts';
export * from './errors.ts';
export * from './refs.ts';
export { compilePolicy, parsePolicy, policySchema, platformSectionSchema, ruleSchema, POLICY_VERSIONS, TCB_STATUSES } from './schema.ts';
export { canonicalJson } from '../core/index.ts';
export type { CompiledPolicy, CompiledRule, PolicyDocument, PolicyInput, PolicyRule, PlatformSection } from './schema.ts';
export { appraise } from './appraise.ts';
export type { AppraisalResult, AppraisalViolation, AppraiseOptions, RuleOutcome, RuleResult } from './appraise.ts';
export { defaultPolicy, defaultPolicyDocument } from './defaults.ts';
export { renderAppraisal } from './render.ts';
export * from './ear.ts';
export * from './keyring.ts';
