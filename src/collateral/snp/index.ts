export * from './roots.ts';
export * from './kds.ts';
