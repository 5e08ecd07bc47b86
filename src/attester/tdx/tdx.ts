/**
 * The TDX guest attester, through configfs-tsm (provider "tdx_guest"): the kernel takes the 64-byte
 * REPORTDATA, obtains a TDREPORT (TDG.MR.REPORT) and has the host's Quoting Enclave turn it into a
 * DCAP quote (v4/v5) returned in outblob (Linux Documentation/ABI/testing/configfs-tsm; TDX GHCI
 * GetQuote). /dev/tdx_guest is not used: TDX_CMD_GET_REPORT0 is an ioctl, which Node cannot issue
 * without a native addon, and it only yields the MAC-protected TDREPORT, not a quote.
 */
import { DeviceError, bytesEqual } from '../../core/index.ts';
import { parseQuote, TEE_TYPE_TDX, type DcapQuote } from '../../evidence/dcap/index.ts';
import { tsmProvider, tsmReport, type TsmFs } from '../tsm/index.ts';
import type { Attester } from '../types.ts';

export const TDX_TSM_PROVIDER = 'tdx_guest';

export interface TdxAttesterOptions {
  /** configfs-tsm report directory (default /sys/kernel/config/tsm/report). */
  tsmBase?: string;
  tsmFs?: TsmFs;
}

export interface TdxAttester extends Attester {
  /** The quote plus its parsed form (for callers that want RTMRs or the PCK chain). */
  quote(reportData: Uint8Array): Promise<{ quote: Uint8Array; parsed: DcapQuote }>;
}

export function createTdxAttester(opts: TdxAttesterOptions = {}): TdxAttester {
  const tsm = { ...(opts.tsmBase ? { base: opts.tsmBase } : {}), ...(opts.tsmFs ? { fs: opts.tsmFs } : {}) };
  const quote = async (reportData: Uint8Array): Promise<{ quote: Uint8Array; parsed: DcapQuote }> => {
    const r = await tsmReport(reportData, tsm);
    if (r.provider !== TDX_TSM_PROVIDER) throw new DeviceError('tdx', `configfs-tsm provider is "${r.provider}", not ${TDX_TSM_PROVIDER}: this is not a TDX guest`);
    let parsed: DcapQuote;
    try {
      parsed = parseQuote(r.outblob);
    } catch (e) {
      throw new DeviceError('tdx', `the quoting service returned an unparsable quote: ${(e as Error).message}`, { cause: e });
    }
    if (parsed.header.teeType !== TEE_TYPE_TDX || parsed.body.kind === 'sgx') throw new DeviceError('tdx', 'the quote is not a TDX quote');
    const want = new Uint8Array(64);
    want.set(reportData);
    if (!bytesEqual(parsed.body.reportData, want)) throw new DeviceError('tdx', 'the quote does not carry the requested REPORTDATA');
    // Quotes arrive in fixed-size buffers; hand out exactly the declared quote.
    return { quote: parsed.raw, parsed };
  };
  return {
    id: 'tdx',
    available: async () => (await tsmProvider(tsm)) === TDX_TSM_PROVIDER,
    evidence: async (reportData) => (await quote(reportData)).quote,
    quote,
  };
}
