/**
 * TCG PC Client event logs (legacy SHA-1 and crypto-agile), shared by the TPM verifier and the TDX
 * CCEL (RTMR) replay. Pure parsing plus hashing for replay (WebCrypto only).
 *
 *   const log = parseEventLog(bytes);               // throws EvidenceMalformed
 *   const { banks } = await replayEventLog(log);    // Map<TPM_ALG_ID, { bank, pcrs: Map<index, value> }>
 *   log.events.map(describeEvent);                  // JSON-safe decoded events
 *
 * CCEL: call parseEventLog on the ACPI CCEL area (0xFF padding is accepted), replay the SHA-384 bank
 * (TPM_ALG.SHA384) and map register index i (1..4) to RTMR[i-1]; index 0 is MRTD and not replayed.
 */
export { TPM_ALG, HASH_ALGS, hashAlgName, hashAlgByName, hashSize, webCryptoHash } from './algorithms.ts';
export { EV, eventTypeName } from './event-types.ts';
export { parseEventLog, eventLogBanks } from './parse.ts';
export { encodeEventLog, encodeSpecId } from './encode.ts';
export type { EventLog, TcgEvent, EventDigest, SpecIdEvent, ParseEventLogOptions } from './parse.ts';
export { replayEventLog, replayToJson, startupLocality } from './replay.ts';
export type { ReplayResult, ReplayedBank, ReplayOptions } from './replay.ts';
export { describeEvent, describeDevicePath, guidToString } from './decode.ts';
