/**
 * Object Names (TPM 2.0 Part 1 §16): Name = nameAlg (u16 BE) ‖ H_nameAlg(TPMT_PUBLIC). The Name
 * binds every attribute of the public area, so the TPM's qualifiedSigner, MakeCredential and
 * pinned-AK checks all compare Names rather than bare keys.
 */
import { concatBytes, digest, UnsupportedVersion } from '../../core/index.ts';
import { hashAlgName, webCryptoHash } from '../eventlog/index.ts';
import type { TpmtPublic } from './structures.ts';

export async function objectName(pub: Pick<TpmtPublic, 'nameAlg' | 'raw'>): Promise<Uint8Array> {
  const h = webCryptoHash(pub.nameAlg);
  if (!h) throw new UnsupportedVersion('tpm', 'TPMT_PUBLIC.nameAlg', hashAlgName(pub.nameAlg), ['sha1', 'sha256', 'sha384', 'sha512']);
  const alg = new Uint8Array([pub.nameAlg >> 8, pub.nameAlg & 0xff]);
  return concatBytes(alg, await digest(h, pub.raw));
}
