/** The Nitro entry of the platform registry (DESIGN.md "Plugging in a TEE"). */
import { looksLikeNitroDocument, parseNitroDocument, type NitroDocument } from '../../evidence/nitro/index.ts';
import type { Platform } from '../types.ts';
import { verifyNitro } from './verify.ts';

export const nitroPlatform: Platform<NitroDocument> = {
  id: 'nitro',
  description: 'AWS Nitro Enclaves attestation document (COSE_Sign1 ES384, binary or base64) chained to the pinned AWS Nitro Root-G1',
  detect: looksLikeNitroDocument,
  parse: parseNitroDocument,
  verify: verifyNitro,
};
