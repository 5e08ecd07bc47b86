/**
 * TPM 2.0 verification. Reusable pieces for other platforms (Azure vTPM):
 *   verifyQuote(attest, sig, akPublic (TPMT_PUBLIC or JWK), { pcrs, nonce })
 *   verifyTpmSignature(key, sig, data)
 * Credential activation (verifier side): makeCredential, startActivation, finishActivation.
 */
export { verifyQuote, verifyTpmSignature, selectedPcrValues, type PcrBanks, type VerifiedQuote, type VerifyQuoteOptions } from './quote.ts';
export { establishAkTrust, verifyEkCertificate, verifyTpmCertChain, certMatchesTpmPublic, type AkTrust, type AkTrustMode } from './trust.ts';
export { kdfa, aesCfb, makeCredential, startActivation, finishActivation, type CredentialChallenge, type ActivationState, type ActivationInput } from './activation.ts';
export { tpmPlatform, verifyTpmEvidence, TPM_SHA1_BANK_WARNING } from './platform.ts';
export { parseTpmsAttest, parseTpmtSignature, parseTpmtPublic, objectName } from '../../evidence/tpm/index.ts';
