/** AWS Nitro Enclaves verification: chain to the pinned Root-G1, ES384 COSE signature, freshness, debug, binding. */
export * from './verify.ts';
export * from './platform.ts';
