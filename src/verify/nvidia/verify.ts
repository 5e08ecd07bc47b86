/**
 * Verification of an NVIDIA Hopper GPU attestation report (SPDM 1.1 GET_MEASUREMENTS request +
 * MEASUREMENTS response; NOTES.md §7, nvtrust local GPU verifier, Trustee deps/verifier/src/nvidia):
 *
 *  1. Chain: the device certificate chain from the collateral (PEM, leaf first: GSP FMC leaf →
 *     GSP BROM → GH100 Provisioner ICA → GH100 Identity → NVIDIA Device Identity CA). Every link's
 *     signature and validity at ctx.now are checked, issuers must be CAs, and the root must be the
 *     pinned NVIDIA Device Identity CA (or a root added through ctx.extraRoots.nvidia).
 *  2. FWID: the leaf carries the FWID extension (2.23.133.5.4.1) whose last 48 bytes must equal the
 *     report's opaque FWID field (type 20): the leaf belongs to the firmware that signed.
 *  3. Signature: ECDSA P-384 (raw r‖s) over SHA-384(request ‖ response-without-signature) under
 *     the leaf key.
 *  4. Binding: an expected nonce (or reportData) must equal the request nonce (a shorter value
 *     is a prefix with zero remainder). The report has no user-data or public-key field, so such
 *     an expectation cannot be met and is rejected.
 *
 * Not done here (needs network or data not in the evidence): OCSP for the chain (revocation is
 * 'absent', with a warning; options.requireCrl rejects) and RIM comparison of the measurements
 * (left to policy: measurements are exposed as claims).
 */
import {
  BindingMismatch,
  CertificateInvalid,
  CollateralUnavailable,
  EvidenceMalformed,
  SignatureInvalid,
  bytesEqual,
  ecdsaVerify,
  fingerprint,
  iso,
  subtle,
  toHex,
  verifyChain,
  x509,
  type Claims,
  type JsonValue,
  type TcbClaims,
  type X509Certificate,
} from '../../core/index.ts';
import { NVIDIA_FWID_OID, NVIDIA_PINNED_ROOTS, NVIDIA_TRUST_FAMILY } from '../../collateral/nvidia/index.ts';
import { FWID_LEN, OPAQUE, TEE, decodeOpaque, opaqueField, type NvidiaReport } from '../../evidence/nvidia/index.ts';
import { checkBinding, rootFingerprints } from '../binding.ts';
import type { Verified, VerifyContext } from '../types.ts';

/** A GPU has no vendor TCB status in its evidence; the neutral claims say so explicitly. */
export const NVIDIA_TCB: TcbClaims = Object.freeze({ status: 'NotApplicable', advisoryIds: [], versions: {} }) as TcbClaims;

const HOPPER_ROLES = ['GSP FMC leaf', 'GSP BROM', 'GH100 Provisioner ICA', 'GH100 Identity', 'NVIDIA Device Identity CA'];

function roles(n: number): string[] {
  if (n === HOPPER_ROLES.length) return HOPPER_ROLES;
  return Array.from({ length: n }, (_, i) => (i === 0 ? 'GSP FMC leaf' : i === n - 1 ? 'root' : `intermediate ${i}`));
}

/** The certificate chain from the collateral, in the order given, without duplicates. */
async function chainFrom(ctx: VerifyContext): Promise<X509Certificate[]> {
  const seen = new Set<string>();
  const chain: X509Certificate[] = [];
  for (const c of ctx.collateral.certificates) {
    const fp = await fingerprint(c);
    if (seen.has(fp)) continue;
    seen.add(fp);
    chain.push(c);
  }
  if (chain.length === 0) {
    throw new CollateralUnavailable('NVIDIA GPU device certificate chain', undefined, 'none supplied: pass the chain the driver returned with the report (PEM, leaf first) as collateral');
  }
  return chain;
}

function fwidOf(leaf: X509Certificate): Uint8Array {
  let ext: x509.Extension | null;
  try {
    ext = leaf.getExtension(NVIDIA_FWID_OID);
  } catch (e) {
    throw new CertificateInvalid('GSP FMC leaf', `FWID extension cannot be decoded: ${(e as Error).message}`, { subject: leaf.subject });
  }
  if (!ext) throw new CertificateInvalid('GSP FMC leaf', `"${leaf.subject}" has no FWID extension (${NVIDIA_FWID_OID}): it is not the GPU's signing certificate`, { subject: leaf.subject });
  const v = new Uint8Array(ext.value);
  if (v.length < FWID_LEN) throw new CertificateInvalid('GSP FMC leaf', `FWID extension holds ${v.length} bytes, fewer than a ${FWID_LEN}-byte FWID`, { subject: leaf.subject });
  return v.subarray(v.length - FWID_LEN);
}

function assertIssuersAreCas(chain: X509Certificate[], names: string[]): void {
  for (let i = 1; i < chain.length; i++) {
    const c = chain[i]!;
    let bc: x509.BasicConstraintsExtension | null;
    try {
      bc = c.getExtension(x509.BasicConstraintsExtension);
    } catch (e) {
      throw new CertificateInvalid(names[i]!, `basicConstraints cannot be decoded: ${(e as Error).message}`, { subject: c.subject });
    }
    if (!bc?.ca) throw new CertificateInvalid(names[i]!, `"${c.subject}" issues a certificate but is not a CA (basicConstraints cA is not set)`, { subject: c.subject });
  }
}

/** Imported leaf keys by certificate fingerprint (a GPU's leaf signs every report it makes). */
const keyCache = new Map<string, CryptoKey>();
const KEY_CACHE_MAX = 256;

async function leafKey(leaf: X509Certificate): Promise<CryptoKey> {
  const fp = await fingerprint(leaf);
  const hit = keyCache.get(fp);
  if (hit) return hit;
  const alg = leaf.publicKey.algorithm as EcKeyAlgorithm;
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-384') {
    throw new CertificateInvalid('GSP FMC leaf', `key is ${alg.name}${alg.namedCurve ? ` ${alg.namedCurve}` : ''}; the report signature needs ECDSA P-384`, { subject: leaf.subject });
  }
  let key: CryptoKey;
  try {
    key = await subtle().importKey('spki', leaf.publicKey.rawData, { name: 'ECDSA', namedCurve: 'P-384' }, false, ['verify']);
  } catch (e) {
    throw new CertificateInvalid('GSP FMC leaf', `public key cannot be imported: ${(e as Error).message}`, { subject: leaf.subject });
  }
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
  keyCache.set(fp, key);
  return key;
}

function checkNoField(field: string, expected: Uint8Array | undefined): void {
  if (expected) throw new BindingMismatch(field, toHex(expected), 'no such field: an NVIDIA SPDM report binds only the request nonce');
}

/** A leaf subject serialNumber (the per-device identity NVIDIA puts in the DN), if present. */
function subjectSerial(leaf: X509Certificate): string | undefined {
  const m = /(?:^|,\s*)(?:serialNumber|2\.5\.4\.5)=([0-9A-Fa-f]+)/.exec(leaf.subject);
  return m?.[1]?.toLowerCase();
}

export async function verifyNvidia(report: NvidiaReport, ctx: VerifyContext): Promise<Verified> {
  const { request, response } = report;
  const chain = await chainFrom(ctx);
  const names = roles(chain.length);
  const pins = { label: NVIDIA_PINNED_ROOTS.label, fingerprints: rootFingerprints([...NVIDIA_PINNED_ROOTS.fingerprints], ctx.extraRoots, NVIDIA_TRUST_FAMILY) };
  const leaf = chain[0]!;
  // The leaf must be the GPU's firmware signing certificate before anything else is looked at.
  const certFwid = chain.length >= 2 ? fwidOf(leaf) : undefined;
  const links = await verifyChain(chain, pins, ctx.now, names);
  assertIssuersAreCas(chain, names);

  const opaque = decodeOpaque(response.opaque);
  const fwid = opaqueField(response.opaque, OPAQUE.FWID);
  if (!fwid) throw new EvidenceMalformed(TEE, 'opaque data', undefined, 'no FWID field (type 20): the report cannot be tied to the leaf certificate');
  if (!certFwid || !bytesEqual(certFwid, fwid)) throw new BindingMismatch('fwid', certFwid ? toHex(certFwid) : '(none)', toHex(fwid));

  const key = await leafKey(leaf);
  if (!(await ecdsaVerify(key, 'SHA-384', response.signature, report.signed))) {
    throw new SignatureInvalid('NVIDIA SPDM MEASUREMENTS response', `ECDSA P-384 signature over request ‖ response does not verify under "${leaf.subject}"`);
  }

  if (ctx.options?.requireCrl) {
    // NVIDIA publishes revocation for this chain only through its OCSP service, which is not queried.
    throw new CollateralUnavailable('revocation status of the NVIDIA GPU certificate chain', undefined, 'NVIDIA OCSP is not queried, so revocation cannot be checked (drop requireCrl / --require-crl to accept with a warning)');
  }
  const exp = ctx.expected;
  checkBinding('nonce', exp?.nonce, request.nonce);
  checkBinding('reportData', exp?.reportData, request.nonce);
  checkNoField('userData', exp?.userData);
  checkNoField('publicKey', exp?.publicKey);

  const measurements: Record<string, string> = {};
  const byIndex: Record<string, JsonValue> = {};
  const valueTypes: Record<string, JsonValue> = {};
  for (const b of response.blocks) {
    measurements[`nvidia.measurement${b.index - 1}`] = toHex(b.value);
    byIndex[String(b.index)] = toHex(b.value);
    valueTypes[String(b.index)] = b.valueType;
  }
  const fwidHex = toHex(fwid);
  const claims: Claims = {
    platform: 'nvidia',
    debug: false,
    measurements,
    tcb: NVIDIA_TCB,
    reportData: toHex(request.nonce),
    signers: {},
    instanceId: subjectSerial(leaf) ?? fwidHex,
    verifiedAt: iso(ctx.now),
    revocation: 'absent',
    platformClaims: {
      spdmVersion: '1.1',
      requestNonce: toHex(request.nonce),
      responseNonce: toHex(response.nonce),
      measurementOperation: request.param2,
      slotId: request.slotId,
      measurementBlocks: response.blocks.length,
      measurements: byIndex,
      measurementValueTypes: valueTypes,
      fwid: fwidHex,
      leafSubject: leaf.subject,
      config: opaque,
    },
  };
  return {
    platform: 'nvidia',
    claims,
    tcb: null,
    warnings: [
      'nvidia: certificate revocation (NVIDIA OCSP) was not checked',
      'nvidia: measurements were not compared with NVIDIA reference integrity manifests (RIMs); appraise them by policy',
    ],
    chain: links,
  };
}
