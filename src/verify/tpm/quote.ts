/**
 * TPM2_Quote verification (TPM 2.0 Part 3 §18.4; go-tpm-tools quote.go / server/verify.go):
 *
 * 1. the signature (RSASSA-PKCS1-v1_5, RSASSA-PSS or ECDSA) over the exact TPMS_ATTEST bytes under
 *    the AK public key;
 * 2. magic == TPM_GENERATED_VALUE and type == TPM_ST_ATTEST_QUOTE — with a restricted AK the TPM
 *    only signs such structures over data it produced itself (Part 1 §28.2), which is why the AK
 *    must be a restricted signing key;
 * 3. extraData == the verifier's nonce (exact equality);
 * 4. pcrDigest == H_sig(PCR values of the selection, in selection order): the hash is the
 *    signature scheme's hash, whatever the bank (Part 3 §18.4.1; verified on the GCE corpus).
 */
import {
  AttestError,
  BindingMismatch,
  bytesEqual,
  concatBytes,
  CURVE_BYTES,
  digest,
  ErrorCode,
  EvidenceMalformed,
  fixedWidth,
  SignatureInvalid,
  subtle,
  toHex,
  ab,
  type HashName,
} from '../../core/index.ts';
import {
  hashAlgName,
  TPM_ALG,
  TPM_GENERATED_VALUE,
  TPM_ST,
  TPMA_OBJECT,
  tpmPublicToJwk,
  webCryptoHash,
  type PublicJwk,
  type TpmsAttest,
  type TpmtPublic,
  type TpmtSignature,
} from '../../evidence/tpm/index.ts';

export type PcrBanks = Map<number, Map<number, Uint8Array>>;

export interface VerifyQuoteOptions {
  /** Supplied PCR values (bank → index → value); every selected PCR must be present. */
  pcrs: PcrBanks;
  /** When given, extraData must equal it exactly. */
  nonce?: Uint8Array;
  /** Accept SHA-1 signatures (default false). SHA-1 *banks* signed with SHA-256 are always accepted. */
  allowSha1Signature?: boolean;
}

export interface VerifiedQuote {
  attest: TpmsAttest;
  signature: TpmtSignature;
  /** The quoted PCR values, bank → index → value (only the selected ones). */
  pcrs: PcrBanks;
}

function isJwk(k: TpmtPublic | PublicJwk): k is PublicJwk {
  return 'kty' in k;
}

async function importKey(jwk: PublicJwk, alg: RsaHashedImportParams | EcKeyImportParams): Promise<CryptoKey> {
  try {
    return await subtle().importKey('jwk', { ...jwk, ext: true } as JsonWebKey, alg, false, ['verify']);
  } catch (e) {
    throw new SignatureInvalid('TPM AK', `public key cannot be imported: ${(e as Error).message}`);
  }
}

/**
 * Verifies a TPMT_SIGNATURE over `data` under an AK (TPMT_PUBLIC or JWK). Throws SignatureInvalid.
 * RSASSA-PSS is accepted with a salt of the digest size (the TCG reference implementation) or the
 * maximum salt (some discrete TPMs), as both are valid PSS signatures by the key.
 */
export async function verifyTpmSignature(key: TpmtPublic | PublicJwk, sig: TpmtSignature, data: Uint8Array, allowSha1 = false): Promise<void> {
  const what = 'TPM quote';
  const hash = webCryptoHash(sig.hash);
  if (!hash) throw new SignatureInvalid(what, `signature hash ${hashAlgName(sig.hash)} is not supported`);
  if (hash === 'SHA-1' && !allowSha1) throw new SignatureInvalid(what, 'SHA-1 signatures are not accepted');
  if (!isJwk(key)) {
    const scheme = key.type === TPM_ALG.RSA ? key.rsa.scheme : key.type === TPM_ALG.ECC ? key.ecc.scheme : undefined;
    // A key bound to one scheme can only produce that scheme: anything else did not come from it.
    if (scheme && scheme.scheme !== TPM_ALG.NULL && (scheme.scheme !== sig.sigAlg || (scheme.hashAlg !== undefined && scheme.hashAlg !== sig.hash))) {
      throw new SignatureInvalid(what, `signature scheme 0x${sig.sigAlg.toString(16)}/${hashAlgName(sig.hash)} differs from the AK's scheme 0x${scheme.scheme.toString(16)}/${hashAlgName(scheme.hashAlg ?? 0)}`);
    }
  }
  const jwk = isJwk(key) ? key : tpmPublicToJwk(key);
  let ok = false;
  if (sig.sigAlg === TPM_ALG.ECDSA) {
    if (jwk.kty !== 'EC') throw new SignatureInvalid(what, 'ECDSA signature but the AK is not an ECC key');
    const n = CURVE_BYTES[jwk.crv];
    if (sig.r.length > n + 1 || sig.s.length > n + 1) throw new SignatureInvalid(what, `ECDSA r/s longer than ${n} bytes`);
    let raw: Uint8Array;
    try {
      raw = concatBytes(fixedWidth(sig.r, n), fixedWidth(sig.s, n));
    } catch {
      throw new SignatureInvalid(what, `ECDSA r/s do not fit ${jwk.crv}`);
    }
    const k = await importKey(jwk, { name: 'ECDSA', namedCurve: jwk.crv });
    ok = await subtle().verify({ name: 'ECDSA', hash }, k, ab(raw), ab(data));
  } else {
    if (jwk.kty !== 'RSA') throw new SignatureInvalid(what, 'RSA signature but the AK is not an RSA key');
    if (sig.sigAlg === TPM_ALG.RSASSA) {
      const k = await importKey(jwk, { name: 'RSASSA-PKCS1-v1_5', hash });
      ok = await subtle().verify({ name: 'RSASSA-PKCS1-v1_5' }, k, ab(sig.sig), ab(data));
    } else {
      const k = await importKey(jwk, { name: 'RSA-PSS', hash });
      const hLen = (await digest(hash, new Uint8Array(0))).length;
      const modBytes = Math.ceil(((k.algorithm as RsaHashedKeyAlgorithm).modulusLength - 1) / 8);
      for (const saltLength of [hLen, modBytes - hLen - 2]) {
        if (saltLength < 0) continue;
        if (await subtle().verify({ name: 'RSA-PSS', saltLength }, k, ab(sig.sig), ab(data))) {
          ok = true;
          break;
        }
      }
    }
  }
  if (!ok) throw new SignatureInvalid(what);
}

/** The PCR values a selection covers, concatenated in selection order (Part 3 §18.4.1). */
export function selectedPcrValues(attest: TpmsAttest, pcrs: PcrBanks): { concat: Uint8Array; quoted: PcrBanks } {
  const parts: Uint8Array[] = [];
  const quoted: PcrBanks = new Map();
  for (const sel of attest.quote?.pcrSelect ?? []) {
    const bank = pcrs.get(sel.hash);
    for (const i of sel.pcrs) {
      const v = bank?.get(i);
      if (!v) throw new EvidenceMalformed('tpm', `pcrs.${hashAlgName(sel.hash)}.${i}`, undefined, `the quote selects ${hashAlgName(sel.hash)} PCR ${i} but no value was supplied`);
      parts.push(v);
      let q = quoted.get(sel.hash);
      if (!q) quoted.set(sel.hash, (q = new Map()));
      q.set(i, v);
    }
  }
  return { concat: concatBytes(...parts), quoted };
}

/**
 * Verifies one quote. Throws SignatureInvalid (signature, scheme), EvidenceMalformed (magic, type,
 * missing PCR values), BindingMismatch (extraData ≠ nonce: field 'extraData'; supplied PCR values
 * that do not hash to the signed pcrDigest: field 'pcrDigest').
 */
export async function verifyQuote(attest: TpmsAttest, sig: TpmtSignature, akPublic: TpmtPublic | PublicJwk, opts: VerifyQuoteOptions): Promise<VerifiedQuote> {
  if (!isJwk(akPublic)) {
    const need = TPMA_OBJECT.restricted | TPMA_OBJECT.sign;
    if ((akPublic.objectAttributes & need) !== need) {
      throw new AttestError(ErrorCode.SignatureInvalid, 'TPM quote: the AK is not a restricted signing key, so its signature does not prove the TPM produced the TPMS_ATTEST', { what: 'TPM AK' });
    }
  }
  await verifyTpmSignature(akPublic, sig, attest.raw, opts.allowSha1Signature);
  if (attest.magic !== TPM_GENERATED_VALUE) throw new EvidenceMalformed('tpm', 'TPMS_ATTEST.magic', 0, `0x${attest.magic.toString(16)} is not TPM_GENERATED_VALUE 0xff544347`);
  if (attest.type !== TPM_ST.ATTEST_QUOTE || !attest.quote) throw new EvidenceMalformed('tpm', 'TPMS_ATTEST.type', 4, `0x${attest.type.toString(16)} is not TPM_ST_ATTEST_QUOTE 0x8018`);
  if (opts.nonce && !bytesEqual(opts.nonce, attest.extraData)) throw new BindingMismatch('extraData', toHex(opts.nonce), toHex(attest.extraData));
  const { concat, quoted } = selectedPcrValues(attest, opts.pcrs);
  const h = webCryptoHash(sig.hash) as HashName;
  const computed = await digest(h, concat);
  if (!bytesEqual(computed, attest.quote.pcrDigest)) throw new BindingMismatch('pcrDigest', toHex(attest.quote.pcrDigest), toHex(computed));
  return { attest, signature: sig, pcrs: quoted };
}
