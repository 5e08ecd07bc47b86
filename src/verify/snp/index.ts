export * from './extensions.ts';
export * from './verify.ts';
