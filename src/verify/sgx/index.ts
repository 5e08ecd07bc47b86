/**
 * The 'sgx' platform: Intel SGX DCAP ECDSA quotes v3 (and v4/v5 with an SGX body). Parsing lives
 * in evidence/dcap and verification in verify/dcap, shared with TDX.
 */
import { UnsupportedVersion } from '../../core/index.ts';
import { TEE_TYPE_SGX, looksLikeDcapQuote, parseQuote, type DcapQuote } from '../../evidence/dcap/index.ts';
import type { Platform } from '../types.ts';
import { verifyDcapQuote } from '../dcap/index.ts';

export function parseSgxQuote(bytes: Uint8Array): DcapQuote {
  const q = parseQuote(bytes);
  if (q.header.teeType !== TEE_TYPE_SGX) throw new UnsupportedVersion('sgx', 'TEE_TYPE', `0x${q.header.teeType.toString(16)}`, ['0x0']);
  return q;
}

export const sgxPlatform: Platform<DcapQuote> = {
  id: 'sgx',
  description: 'Intel SGX DCAP ECDSA quote v3 (v4/v5 SGX bodies too), PCK chain to the Intel SGX Root CA, PCS TCB Info + QE Identity',
  detect: (bytes) => looksLikeDcapQuote(bytes)?.teeType === TEE_TYPE_SGX,
  parse: parseSgxQuote,
  verify: (q, ctx) => verifyDcapQuote(q, ctx, 'sgx'),
};
