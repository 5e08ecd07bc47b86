/** AWS Nitro Enclaves attestation documents: strict CBOR, COSE_Sign1 and the payload map. Pure parsing. */
export * from './cbor.ts';
export * from './cose.ts';
export * from './document.ts';
