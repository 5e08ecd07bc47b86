/**
 * The 'tdx' platform: Intel TDX DCAP quotes v4 and v5 (TD 1.0 and TD 1.5 bodies). Parsing lives in
 * evidence/dcap and verification in verify/dcap, shared with SGX.
 */
import { UnsupportedVersion } from '../../core/index.ts';
import { TEE_TYPE_TDX, looksLikeDcapQuote, parseQuote, type DcapQuote } from '../../evidence/dcap/index.ts';
import type { Platform } from '../types.ts';
import { verifyDcapQuote } from '../dcap/index.ts';

export function parseTdxQuote(bytes: Uint8Array): DcapQuote {
  const q = parseQuote(bytes);
  if (q.header.teeType !== TEE_TYPE_TDX) throw new UnsupportedVersion('tdx', 'TEE_TYPE', `0x${q.header.teeType.toString(16)}`, ['0x81']);
  return q;
}

export const tdxPlatform: Platform<DcapQuote> = {
  id: 'tdx',
  description: 'Intel TDX DCAP ECDSA quote v4/v5 (TD 1.0 / TD 1.5), PCK chain to the Intel SGX Root CA, PCS TCB Info + TD_QE Identity',
  detect: (bytes) => looksLikeDcapQuote(bytes)?.teeType === TEE_TYPE_TDX,
  parse: parseTdxQuote,
  // ctx.eventLog: a CCEL replayed against RTMR0..2 (claims.platformClaims.ccel); without it, an
  // event log supplied among ctx.collateral (detected by content) is used; with neither, no replay.
  acceptsEventLog: true,
  verify: (q, ctx) => verifyDcapQuote(q, ctx, 'tdx'),
};
