/**
 * The 'tpm' platform: TPM 2.0 quotes in the teataster JSON bundle or a go-tpm-tools Attestation.
 *
 *   1. AK trust (trust.ts): pinned Name, credential-activation record, or AK certificate chain;
 *   2. every quote (quote.ts): signature, magic/type, extraData == expected nonce, pcrDigest;
 *      SHA-1 *signatures* are rejected; SHA-1 *banks* signed with SHA-256 are accepted with a
 *      warning (their values are still authenticated by the quote signature);
 *   3. the event log, when present, is replayed for every quoted bank it carries; every register it
 *      touches that a quote covers must equal the quoted value (BindingMismatch otherwise), and at
 *      least one bank must be compared;
 *   4. claims: 'tpm.<bank>.pcr<N>' for every quoted PCR, the replayed events, AK Name and trust.
 */
import {
  BindingMismatch,
  bytesEqual,
  iso,
  toHex,
  type Claims,
  type JsonValue,
} from '../../core/index.ts';
import { describeEvent, EV, parseEventLog, replayEventLog } from '../../evidence/eventlog/index.ts';
import {
  describeAttributes,
  hashAlgName,
  isGoTpmToolsAttestation,
  isTpmBundle,
  parseTpmEvidence,
  type TpmEvidence,
} from '../../evidence/tpm/index.ts';
import { checkBinding } from '../binding.ts';
import type { Platform, Verified, VerifyContext } from '../types.ts';
import { verifyQuote, type PcrBanks, type VerifiedQuote } from './quote.ts';
import { establishAkTrust } from './trust.ts';

export const TPM_SHA1_BANK_WARNING = 'a quote covers the SHA-1 PCR bank: its values are authenticated, but SHA-1 event digests are not collision resistant; prefer SHA-256/384 measurements';

export async function verifyTpmEvidence(evidence: TpmEvidence, ctx: VerifyContext): Promise<Verified> {
  const warnings: string[] = [];
  const trust = await establishAkTrust(evidence, ctx);
  // expected.nonce must equal extraData exactly; expected.reportData follows the REPORT_DATA rule
  // (a shorter value is a prefix and the rest must be zero), for KBS callers that pad a hash.
  const nonce = ctx.expected?.nonce;
  const reportData = ctx.expected?.reportData;
  if (!nonce && !reportData) warnings.push('no expected nonce: the quotes\' freshness (extraData) was not checked');

  const quoted: PcrBanks = new Map();
  const verified: VerifiedQuote[] = [];
  for (const q of evidence.quotes) {
    const v = await verifyQuote(q.attest, q.signature, evidence.akPublic, { pcrs: evidence.pcrs, ...(nonce ? { nonce } : {}) });
    checkBinding('extraData', reportData, v.attest.extraData);
    verified.push(v);
    for (const [alg, bank] of v.pcrs) {
      let into = quoted.get(alg);
      if (!into) quoted.set(alg, (into = new Map()));
      for (const [i, val] of bank) into.set(i, val);
    }
  }
  if (quoted.has(0x0004)) warnings.push(TPM_SHA1_BANK_WARNING);
  for (const [alg, bank] of evidence.pcrs) {
    const extra = [...bank.keys()].filter((i) => !quoted.get(alg)?.has(i));
    if (extra.length) warnings.push(`${hashAlgName(alg)} PCRs ${extra.join(',')} were supplied but no quote covers them: ignored`);
  }

  let events: JsonValue[] | undefined;
  let replayed: Record<string, JsonValue> | undefined;
  if (evidence.eventLog) {
    const log = parseEventLog(evidence.eventLog);
    const banks = [...quoted.keys()];
    const logBanks = log.specId ? log.specId.algorithms.map((a) => a.alg) : [0x0004];
    const common = banks.filter((b) => logBanks.includes(b));
    if (common.length === 0) throw new BindingMismatch('eventLog', `a bank quoted (${banks.map(hashAlgName).join(', ')})`, `log banks ${logBanks.map(hashAlgName).join(', ')}`);
    const result = await replayEventLog(log, { banks: common });
    replayed = {};
    let compared = 0;
    for (const b of result.banks.values()) {
      const q = quoted.get(b.alg)!;
      const summary: Record<string, string> = {};
      for (const [i, v] of b.pcrs) {
        const want = q.get(i);
        if (!want) continue;
        if (!bytesEqual(want, v)) throw new BindingMismatch(`eventLog.${b.bank}.pcr${i}`, toHex(want), toHex(v));
        summary[String(i)] = toHex(v);
        compared++;
      }
      replayed[b.bank] = summary;
    }
    if (compared === 0) throw new BindingMismatch('eventLog', 'at least one quoted PCR reproduced by the log', 'none of the log\'s registers is quoted');
    // Only digests of replayed banks, and only events in quoted registers, are verified.
    const banksDone = new Set([...result.banks.values()].map((b) => b.bank));
    events = log.events.map((e) => {
      const d = describeEvent(e);
      const digests = d.digests as Record<string, JsonValue>;
      for (const k of Object.keys(digests)) if (!banksDone.has(k)) delete digests[k];
      const measured = e.eventType !== EV.NO_ACTION && [...result.banks.values()].some((b) => quoted.get(b.alg)?.has(e.pcrIndex));
      return { ...d, verified: measured };
    });
  }

  const measurements: Record<string, string> = {};
  for (const [alg, bank] of [...quoted].sort((a, b) => a[0] - b[0])) {
    for (const [i, v] of [...bank].sort((a, b) => a[0] - b[0])) measurements[`tpm.${hashAlgName(alg)}.pcr${i}`] = toHex(v);
  }
  const first = verified[0]!.attest;
  const platformClaims: Record<string, JsonValue> = {
    source: evidence.source,
    akName: toHex(trust.akName),
    akTrust: trust.mode,
    akType: evidence.akPublic.type === 0x0001 ? 'rsa' : 'ecc',
    akAttributes: describeAttributes(evidence.akPublic.objectAttributes),
    ...(trust.akCertSubject ? { akCertSubject: trust.akCertSubject } : {}),
    ...(trust.activation ? { activation: { ...trust.activation } as Record<string, JsonValue> } : {}),
    quotes: verified.map((v) => ({
      banks: v.attest.quote!.pcrSelect.map((s) => hashAlgName(s.hash)),
      signature: `${v.signature.sigAlg === 0x0014 ? 'rsassa' : v.signature.sigAlg === 0x0016 ? 'rsapss' : 'ecdsa'}-${hashAlgName(v.signature.hash)}`,
      extraData: toHex(v.attest.extraData),
      qualifiedSigner: toHex(v.attest.qualifiedSigner),
      clock: v.attest.clockInfo.clock.toString(),
      resetCount: v.attest.clockInfo.resetCount,
      restartCount: v.attest.clockInfo.restartCount,
      safe: v.attest.clockInfo.safe,
      firmwareVersion: v.attest.firmwareVersion.toString(16).padStart(16, '0'),
    })),
    ...(replayed ? { eventLogReplay: replayed } : {}),
    ...(events ? { events } : {}),
    ...(evidence.instanceInfo ? { gceInstance: { ...evidence.instanceInfo } as Record<string, JsonValue> } : {}),
  };
  const claims: Claims = {
    platform: 'tpm',
    debug: false,
    measurements,
    tcb: { status: 'NotApplicable', advisoryIds: [], versions: {} },
    reportData: toHex(first.extraData),
    signers: {},
    instanceId: toHex(trust.akName),
    verifiedAt: iso(ctx.now),
    revocation: 'absent',
    platformClaims,
  };
  return { platform: 'tpm', claims, tcb: null, warnings, chain: trust.chain };
}

export const tpmPlatform: Platform<TpmEvidence> = {
  id: 'tpm',
  description: 'TPM 2.0 quote (teataster.tpm/v1 JSON bundle or go-tpm-tools Attestation protobuf), with TCG event-log replay',
  detect(bytes: Uint8Array): boolean {
    try {
      return isTpmBundle(bytes) || isGoTpmToolsAttestation(bytes);
    } catch {
      return false;
    }
  },
  parse: parseTpmEvidence,
  verify: verifyTpmEvidence,
};
