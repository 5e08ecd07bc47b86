export * from './types.ts';
export * from './binding.ts';
