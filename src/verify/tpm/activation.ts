/**
 * The verifier side of credential activation (TPM 2.0 Part 1 §24 "Credential Protection",
 * Part 3 §12.6 TPM2_MakeCredential / §12.5 TPM2_ActivateCredential), in WebCrypto:
 *
 *   seed            random, |H_ekNameAlg| bytes
 *   encryptedSecret RSA-OAEP(EK, H_ekNameAlg, label "IDENTITY\0", seed)          (Part 1 §B.10.3)
 *   symKey          KDFa(ekNameAlg, seed, "STORAGE", akName, "", ekSymKeyBits)    (Part 1 §24.4)
 *   encIdentity     AES-CFB(symKey, IV = 0, TPM2B_DIGEST(secret))
 *   hmacKey         KDFa(ekNameAlg, seed, "INTEGRITY", "", "", |H|·8)              (Part 1 §24.5)
 *   outerHmac       HMAC_ekNameAlg(hmacKey, encIdentity ‖ akName)
 *   credentialBlob  TPM2B_DIGEST(outerHmac) ‖ encIdentity  (the TPM2B_ID_OBJECT buffer)
 *
 * Only the TPM holding the EK private key — and holding an object with exactly that Name — can
 * recover the secret (ActivateCredential checks the HMAC with the loaded AK's Name), which proves
 * the AK lives in the same TPM as the certified EK. RSA EKs only (the TCG default EK template).
 */
import {
  AttestError,
  bytesEqual,
  ByteWriter,
  CertificateInvalid,
  concatBytes,
  digest,
  ErrorCode,
  fromHex,
  iso,
  randomBytes,
  SignatureInvalid,
  subtle,
  toHex,
  UnsupportedVersion,
  utf8,
  ab,
  type HashName,
} from '../../core/index.ts';
import type { ActivationRecord } from '../../collateral/tpm/index.ts';
import { hashAlgName, objectName, parseTpmtPublic, TPM_ALG, TPMA_OBJECT, tpmPublicToJwk, webCryptoHash, type TpmtPublic } from '../../evidence/tpm/index.ts';
import type { VerifyContext } from '../types.ts';
import { verifyEkCertificate } from './trust.ts';

/** KDFa (Part 1 §11.4.10.2): HMAC-based counter-mode KDF (SP 800-108). */
export async function kdfa(hash: HashName, key: Uint8Array, label: string, contextU: Uint8Array, contextV: Uint8Array, bits: number): Promise<Uint8Array> {
  const k = await subtle().importKey('raw', ab(key), { name: 'HMAC', hash }, false, ['sign']);
  const lbl = label.endsWith('\0') ? utf8(label) : concatBytes(utf8(label), new Uint8Array([0]));
  const bytes = Math.ceil(bits / 8);
  const out: Uint8Array[] = [];
  let have = 0;
  for (let i = 1; have < bytes; i++) {
    const msg = new ByteWriter().u32be(i).bytes(lbl).bytes(contextU).bytes(contextV).u32be(bits).finish();
    const block = new Uint8Array(await subtle().sign('HMAC', k, ab(msg)));
    out.push(block);
    have += block.length;
  }
  return concatBytes(...out).subarray(0, bytes);
}

/**
 * AES-CFB-128 (full-block feedback) with a zero IV. WebCrypto has no CFB (or ECB), so each
 * keystream block E_k(prev) is one AES-CBC encryption of a zero block with IV = prev.
 */
export async function aesCfb(key: Uint8Array, data: Uint8Array, decrypt = false): Promise<Uint8Array> {
  const k = await subtle().importKey('raw', ab(key), { name: 'AES-CBC' }, false, ['encrypt']);
  const out = new Uint8Array(data.length);
  let prev: Uint8Array = new Uint8Array(16);
  for (let off = 0; off < data.length; off += 16) {
    const ks = new Uint8Array(await subtle().encrypt({ name: 'AES-CBC', iv: ab(prev) }, k, new Uint8Array(16))).subarray(0, 16);
    const n = Math.min(16, data.length - off);
    for (let i = 0; i < n; i++) out[off + i] = data[off + i]! ^ ks[i]!;
    prev = (decrypt ? data : out).slice(off, off + 16);
  }
  return out;
}

export interface CredentialChallenge {
  /** TPM2B_ID_OBJECT buffer (without its size field): TPM2B_DIGEST(outerHmac) ‖ encIdentity. */
  credentialBlob: Uint8Array;
  /** TPM2B_ENCRYPTED_SECRET buffer (without its size field): the OAEP-encrypted seed. */
  encryptedSecret: Uint8Array;
}

/** TPM2_MakeCredential computed off-TPM (the verifier never needs a TPM). */
export async function makeCredential(ekPublic: TpmtPublic, akName: Uint8Array, secret: Uint8Array): Promise<CredentialChallenge> {
  if (ekPublic.type !== TPM_ALG.RSA) throw new UnsupportedVersion('tpm', 'EK type', `0x${ekPublic.type.toString(16)}`, ['RSA (TCG default EK template)']);
  const hash = webCryptoHash(ekPublic.nameAlg);
  if (!hash || hash === 'SHA-1') throw new UnsupportedVersion('tpm', 'EK nameAlg', hashAlgName(ekPublic.nameAlg), ['sha256', 'sha384', 'sha512']);
  const sym = ekPublic.rsa.symmetric;
  if (sym.algorithm !== TPM_ALG.AES || sym.mode !== TPM_ALG.CFB || !sym.keyBits) throw new UnsupportedVersion('tpm', 'EK symmetric', `0x${sym.algorithm.toString(16)}`, ['AES-CFB']);
  const hLen = (await digest(hash, new Uint8Array(0))).length;
  if (secret.length === 0 || secret.length > hLen) throw new RangeError(`credential secret must be 1..${hLen} bytes`);
  const seed = randomBytes(hLen);
  const ek = await subtle().importKey('jwk', { ...tpmPublicToJwk(ekPublic), ext: true } as JsonWebKey, { name: 'RSA-OAEP', hash }, false, ['encrypt']);
  const encryptedSecret = new Uint8Array(await subtle().encrypt({ name: 'RSA-OAEP', label: ab(utf8('IDENTITY\0')) }, ek, ab(seed)));
  const symKey = await kdfa(hash, seed, 'STORAGE', akName, new Uint8Array(0), sym.keyBits);
  const encIdentity = await aesCfb(symKey, new ByteWriter().u16be(secret.length).bytes(secret).finish());
  const hmacKey = await kdfa(hash, seed, 'INTEGRITY', new Uint8Array(0), new Uint8Array(0), hLen * 8);
  const hk = await subtle().importKey('raw', ab(hmacKey), { name: 'HMAC', hash }, false, ['sign']);
  const outerHmac = new Uint8Array(await subtle().sign('HMAC', hk, ab(concatBytes(encIdentity, akName))));
  const credentialBlob = new ByteWriter().u16be(outerHmac.length).bytes(outerHmac).bytes(encIdentity).finish();
  return { credentialBlob, encryptedSecret };
}

export interface ActivationState {
  akName: string;
  /** SHA-256 of the secret (the secret itself is not kept). */
  secretSha256: string;
  ekCertSha256?: string;
  createdAt: string;
}

export interface ActivationInput {
  ekPublic: Uint8Array | TpmtPublic;
  /** DER EK certificate; must chain to a pinned or configured (ctx.extraRoots.tpm) CA. */
  ekCert: Uint8Array;
  akPublic: Uint8Array | TpmtPublic;
}

const AK_REQUIRED = TPMA_OBJECT.restricted | TPMA_OBJECT.sign | TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent;

/**
 * Round 1: checks the EK certificate (chain + key) and the AK's attributes (restricted signing,
 * fixedTPM, fixedParent), then makes a credential for the AK's Name. Send `challenge` to the
 * attester, keep `state`.
 */
export async function startActivation(input: ActivationInput, ctx: VerifyContext): Promise<{ challenge: CredentialChallenge; state: ActivationState }> {
  const ekPublic = input.ekPublic instanceof Uint8Array ? parseTpmtPublic(input.ekPublic) : input.ekPublic;
  const akPublic = input.akPublic instanceof Uint8Array ? parseTpmtPublic(input.akPublic) : input.akPublic;
  if (!input.ekCert) throw new CertificateInvalid('EK', 'an EK certificate is required for credential activation');
  await verifyEkCertificate(input.ekCert, ekPublic, ctx);
  if ((akPublic.objectAttributes & AK_REQUIRED) !== AK_REQUIRED || (akPublic.objectAttributes & TPMA_OBJECT.decrypt) !== 0) {
    throw new AttestError(ErrorCode.EvidenceMalformed, 'TPM AK must be a fixedTPM, fixedParent, restricted signing key (not decrypt)', { tee: 'tpm', field: 'akPublic.objectAttributes' });
  }
  const akName = await objectName(akPublic);
  const secret = randomBytes(32);
  const challenge = await makeCredential(ekPublic, akName, secret);
  const state: ActivationState = {
    akName: toHex(akName),
    secretSha256: toHex(await digest('SHA-256', secret)),
    ekCertSha256: toHex(await digest('SHA-256', input.ekCert)),
    createdAt: iso(ctx.now),
  };
  return { challenge, state };
}

/**
 * Round 2: the attester's recovered secret must match. Returns the record to put into a
 * teataster.tpm-trust/v1 collateral item ("activations") for later quote verification.
 */
export async function finishActivation(state: ActivationState, recovered: Uint8Array, now: Date): Promise<ActivationRecord> {
  const got = await digest('SHA-256', recovered);
  if (!bytesEqual(got, fromHex(state.secretSha256))) throw new SignatureInvalid('credential activation', 'the secret recovered by the TPM does not match the credential');
  return { akName: state.akName, ...(state.ekCertSha256 ? { ekCertSha256: state.ekCertSha256 } : {}), at: iso(now) };
}
