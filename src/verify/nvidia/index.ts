/** NVIDIA H100 GPU verification: pinned device-identity chain, FWID, ECDSA P-384 SPDM signature, nonce. */
export * from './verify.ts';
export * from './platform.ts';
