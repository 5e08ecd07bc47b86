export * from './hcl.ts';
export * from './bundle.ts';
