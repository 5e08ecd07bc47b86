/** NVIDIA GPU endorsements: the pinned device-identity root. */
export * from './roots.ts';
