/**
 * Linux configfs-tsm: the generic report interface shared by SEV-SNP and TDX guests. The
 * per-TEE attesters (src/attester/snp, src/attester/tdx) build on tsmReport.
 */
export * from './tsm.ts';
