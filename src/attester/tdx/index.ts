export * from './tdx.ts';
