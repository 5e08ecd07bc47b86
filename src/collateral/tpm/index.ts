/** TPM endorsements: pinned GCE vTPM roots and operator trust (pinned AKs, activation records). */
export * from './roots.ts';
