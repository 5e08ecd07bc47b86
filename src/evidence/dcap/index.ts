export * from './layout.ts';
export * from './quote.ts';
