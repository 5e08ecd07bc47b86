/**
 * The one place that lists every TEE (DESIGN.md). Adding a platform = one import + one entry.
 * Order matters for content detection: more specific formats first.
 */
import type { Platform } from '../verify/types.ts';
import { tdxPlatform } from '../verify/tdx/index.ts';
import { sgxPlatform } from '../verify/sgx/index.ts';
import { simPlatform } from '../verify/sim/index.ts';
import { nitroPlatform } from '../verify/nitro/index.ts';
import { snpPlatform } from '../verify/snp/index.ts';
import { tpmPlatform } from '../verify/tpm/index.ts';
import { nvidiaPlatform } from '../verify/nvidia/index.ts';
import { azSnpVtpmPlatform, azTdxVtpmPlatform } from './azure/index.ts';

export const platforms: readonly Platform[] = [
  // registry entries (one per platform) go here
  azSnpVtpmPlatform as Platform,
  azTdxVtpmPlatform as Platform,
  tdxPlatform as Platform,
  sgxPlatform as Platform,
  nitroPlatform as Platform,
  snpPlatform as Platform,
  tpmPlatform as Platform,
  nvidiaPlatform as Platform,
  simPlatform as Platform,
];
