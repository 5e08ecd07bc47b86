export * from './snp.ts';
