/**
 * TPM 2.0 attestation structures (big-endian, TPM 2.0 Part 2) and evidence containers.
 *
 *   parseTpmsAttest / encodeTpmsAttest      TPMS_ATTEST (quote / certify), raw = signed bytes
 *   parseTpmtSignature / encodeTpmtSignature TPMT_SIGNATURE (RSASSA, RSAPSS, ECDSA)
 *   parseTpmtPublic / encodeTpmtPublic      TPMT_PUBLIC (RSA, ECC, KEYEDHASH, SYMCIPHER)
 *   objectName(pub)                          Name = nameAlg ‖ H(TPMT_PUBLIC)
 *   tpmPublicToJwk(pub)                      for WebCrypto import
 *   parseTpmEvidence(bytes)                  JSON bundle "teataster.tpm/v1" or go-tpm-tools Attestation
 */
export * from './structures.ts';
export { objectName } from './name.ts';
export { tpmPublicToJwk, type PublicJwk } from './keys.ts';
export { readProtobuf, type PbField } from './protobuf.ts';
export {
  TPM_BUNDLE_FORMAT,
  isTpmBundle,
  parseTpmBundle,
  encodeTpmBundle,
  tpmEvidenceToBundle,
  isGoTpmToolsAttestation,
  parseGoTpmToolsAttestation,
  parseTpmEvidence,
} from './bundle.ts';
export type { TpmEvidence, TpmQuote, TpmBundleInput, GceInstanceInfo } from './bundle.ts';
export { TPM_ALG, hashAlgByName, hashSize, webCryptoHash } from '../eventlog/index.ts';
