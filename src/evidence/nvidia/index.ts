/** NVIDIA GPU (Hopper) SPDM attestation report: parse/encode of request, response, blocks, opaque TLVs. */
export * from './spdm.ts';
export * from './opaque.ts';
