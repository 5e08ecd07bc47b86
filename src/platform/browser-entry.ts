/**
 * One import for a web page or a browser extension that verifies attestation evidence itself
 * (docs/browser.md): detect/parse/verify for every registered TEE, collateral from bytes the page
 * fetched, appraisal with the default or a custom policy, and EAR tokens. Only the browser-safe core
 * is reachable from here (WebCrypto, no node:* — tsconfig.core.json and lint enforce it), and
 * test/browser/verifier.test.ts loads it in headless Chromium.
 *
 * reflect-metadata (needed by @peculiar/x509's decorators) is imported by src/core/x509.ts before
 * @peculiar/x509, so importing this module first is enough; a page must not import @peculiar/x509 or
 * tsyringe itself ahead of it.
 */
export { verifyEvidence, detectPlatform, getPlatform, platforms } from './index.ts';
export type { Platform, Verified, VerifyContext, VerifyOptions, ExpectedBinding } from '../verify/types.ts';
export { classifyCollateral, emptyCollateral } from '../collateral/index.ts';
export type { CollateralItem, CollateralSet } from '../collateral/index.ts';
export { AttestError, ErrorCode, MemoryCollateralCache } from '../core/index.ts';
export type { Claims, Fetcher, PlatformId, TcbClaims, TcbStatus } from '../core/index.ts';
export { appraise, defaultPolicy, parsePolicy, renderAppraisal, issueEar, verifyEarToken } from '../policy/index.ts';
export type { AppraisalResult, CompiledPolicy, EarSigner } from '../policy/index.ts';
