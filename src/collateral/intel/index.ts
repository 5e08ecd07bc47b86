export * from './roots.ts';
export * from './pck.ts';
export * from './model.ts';
export * from './signed-json.ts';
export * from './bundle.ts';
export * from './pcs.ts';
