export * from './http.ts';
export * from './input.ts';
