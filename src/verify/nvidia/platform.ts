/** The NVIDIA GPU entry of the platform registry (DESIGN.md "Plugging in a TEE"). */
import { looksLikeNvidiaReport, parseNvidiaReport, type NvidiaReport } from '../../evidence/nvidia/index.ts';
import type { Platform } from '../types.ts';
import { verifyNvidia } from './verify.ts';

export const nvidiaPlatform: Platform<NvidiaReport> = {
  id: 'nvidia',
  description: 'NVIDIA H100 GPU attestation report (SPDM 1.1 GET_MEASUREMENTS + signed MEASUREMENTS, hex or binary); chain via --collateral to the pinned NVIDIA Device Identity CA',
  detect: looksLikeNvidiaReport,
  parse: parseNvidiaReport,
  verify: verifyNvidia,
};
