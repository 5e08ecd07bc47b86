export * from './layout.ts';
export * from './report.ts';
export * from './cert-table.ts';
