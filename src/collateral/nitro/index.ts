/** AWS Nitro Enclaves endorsements: the pinned Root-G1, trust-anchor selection and CRLs. */
export * from './roots.ts';
export * from './crl.ts';
