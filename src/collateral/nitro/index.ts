/** AWS Nitro Enclaves endorsements: the pinned Root-G1 and trust-anchor selection. */
export * from './roots.ts';
