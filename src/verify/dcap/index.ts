export * from './tcb.ts';
export * from './select.ts';
export * from './verify.ts';
export * from './ccel.ts';
