export * from './types.ts';
export * from './tee.ts';
export * from './report-data.ts';
export * from './jwe.ts';
export * from './client.ts';
