/**
 * The SEV-SNP guest attester, through configfs-tsm (provider "sev_guest"): writes the 64-byte
 * REPORT_DATA, reads the 1184-byte ATTESTATION_REPORT from outblob and the extended-report
 * certificate table (VCEK/VLEK, ASK, ARK as the host provisioned them) from auxblob.
 *
 * /dev/sev-guest is not used: its SNP_GET_REPORT / SNP_GET_EXT_REPORT requests are ioctls, which
 * Node.js cannot issue without a native addon. Kernels before 6.7 (no configfs-tsm) are therefore
 * not supported by this attester; docs/snp.md says so.
 */
import { DeviceError, bytesEqual } from '../../core/index.ts';
import { parseSnpCertTable, parseSnpReport, type SnpCertTableEntry, type SnpReport } from '../../evidence/snp/index.ts';
import { tsmProvider, tsmReport, type TsmFs } from '../tsm/index.ts';
import type { Attester } from '../types.ts';

export const SNP_TSM_PROVIDER = 'sev_guest';

export interface SnpAttesterOptions {
  /** configfs-tsm report directory (default /sys/kernel/config/tsm/report). */
  tsmBase?: string;
  tsmFs?: TsmFs;
  /** VMPL to request (default: the kernel's default, 0 for most guests). */
  privlevel?: number;
}

export interface SnpExtendedEvidence {
  /** The raw 1184-byte report. */
  report: Uint8Array;
  parsed: SnpReport;
  /** The raw auxblob certificate table, when the host provided one. */
  certTable?: Uint8Array;
  certificates: SnpCertTableEntry[];
}

export interface SnpAttester extends Attester {
  /** The report plus the host-provided certificates (an "extended report"). */
  extendedEvidence(reportData: Uint8Array): Promise<SnpExtendedEvidence>;
}

export function createSnpAttester(opts: SnpAttesterOptions = {}): SnpAttester {
  const tsm = { ...(opts.tsmBase ? { base: opts.tsmBase } : {}), ...(opts.tsmFs ? { fs: opts.tsmFs } : {}) };
  const extendedEvidence = async (reportData: Uint8Array): Promise<SnpExtendedEvidence> => {
    const r = await tsmReport(reportData, { ...tsm, ...(opts.privlevel !== undefined ? { privlevel: opts.privlevel } : {}) });
    if (r.provider !== SNP_TSM_PROVIDER) throw new DeviceError('snp', `configfs-tsm provider is "${r.provider}", not ${SNP_TSM_PROVIDER}: this is not an SEV-SNP guest`);
    let parsed: SnpReport;
    try {
      parsed = parseSnpReport(r.outblob);
    } catch (e) {
      throw new DeviceError('snp', `the firmware returned an unparsable report: ${(e as Error).message}`, { cause: e });
    }
    const want = new Uint8Array(64);
    want.set(reportData);
    if (!bytesEqual(parsed.reportData, want)) throw new DeviceError('snp', 'the report does not carry the requested REPORT_DATA');
    let certificates: SnpCertTableEntry[] = [];
    if (r.auxblob) {
      try {
        certificates = parseSnpCertTable(r.auxblob);
      } catch (e) {
        throw new DeviceError('snp', `auxblob is not a certificate table: ${(e as Error).message}`, { cause: e });
      }
    }
    return { report: r.outblob, parsed, ...(r.auxblob ? { certTable: r.auxblob } : {}), certificates };
  };
  return {
    id: 'snp',
    available: async () => (await tsmProvider(tsm)) === SNP_TSM_PROVIDER,
    evidence: async (reportData) => (await extendedEvidence(reportData)).report,
    extendedEvidence,
  };
}
