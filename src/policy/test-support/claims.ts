/** Claims fixtures shaped exactly like the platform verifiers emit them (see src/verify/<tee>). */
import type { Claims } from '../../core/index.ts';

export const SNP_MEASUREMENT = 'b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01';
export const OTHER_MEASUREMENT = 'aa'.repeat(48);
export const HOST_DATA = '11'.repeat(32);

export function snpClaims(over: Partial<Claims> = {}): Claims {
  return {
    platform: 'snp',
    debug: false,
    measurements: { 'snp.measurement': SNP_MEASUREMENT },
    tcb: { status: 'UpToDate', advisoryIds: [], versions: { bootloader: 3, tee: 0, snp: 14, microcode: 72 } },
    reportData: '01020304' + '00'.repeat(60),
    hostData: HOST_DATA,
    signers: { 'snp.id_key_digest': '00'.repeat(48), 'snp.author_key_digest': '00'.repeat(48) },
    instanceId: '3ac3fe21'.repeat(16),
    verifiedAt: '2024-01-01T00:00:00Z',
    revocation: 'checked',
    platformClaims: { version: 2, guestSvn: 0, vmpl: 0, policy: { raw: '196608', hex: '0x30000', smt: true, debug: false, migrateMa: false }, product: 'Milan' },
    ...over,
  };
}

export function tdxClaims(over: Partial<Claims> = {}): Claims {
  return {
    platform: 'tdx',
    debug: false,
    measurements: { 'tdx.mrtd': '12'.repeat(48), 'tdx.rtmr0': '34'.repeat(48), 'tdx.rtmr1': '56'.repeat(48), 'tdx.rtmr2': '00'.repeat(48), 'tdx.rtmr3': '00'.repeat(48) },
    tcb: { status: 'UpToDate', advisoryIds: [], date: '2024-03-13T00:00:00Z', versions: { pcesvn: 13, 'sgx.0': 2, 'tdx.0': 5 } },
    reportData: 'ab'.repeat(64),
    signers: { 'tdx.mrsignerseam': '00'.repeat(48) },
    verifiedAt: '2025-07-19T10:00:34Z',
    revocation: 'checked',
    platformClaims: { tdAttributes: { debug: false }, xfam: '0000000000000000' },
    ...over,
  };
}
