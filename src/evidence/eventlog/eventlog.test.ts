import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttestError, concatBytes, sha256, toHex, utf8 } from '../../core/index.ts';
import { corpusFile, corpusText, loadManifest } from '../../../test/support/corpus.ts';
import { describeEvent, encodeEventLog, encodeSpecId, EV, parseEventLog, replayEventLog, replayToJson, TPM_ALG, type SpecIdEvent, type TcgEvent } from './index.ts';

interface Expected { file: string; banks: { hash: string; pcrs: Record<string, string> }[]; expected_efi_app_digests?: Record<string, string[]> }
const expectedAll = JSON.parse(corpusText('tpm/go-tpm-tools/eventlogs/expected_pcrs.json')) as Record<string, Expected>;

test('conformance: every corpus event log replays to its expected PCRs (all banks)', async () => {
  const entries = loadManifest().filter((e) => e.platform === 'tpm' && e.kind === 'event-log');
  assert.ok(entries.length >= 9);
  const keys = new Set(Object.keys(expectedAll));
  assert.equal(keys.size, 10);
  for (const e of entries) assert.ok(keys.has(String(e.expected.fields?.expected_pcrs_key)), e.id);
  for (const [key, exp] of Object.entries(expectedAll)) {
    const log = parseEventLog(corpusFile(`tpm/go-tpm-tools/${exp.file}`));
    const replay = replayToJson(await replayEventLog(log));
    let compared = 0;
    for (const bank of exp.banks) {
      for (const [i, v] of Object.entries(bank.pcrs)) {
        assert.equal(replay[bank.hash.toLowerCase()]?.[i], v, `${key} ${bank.hash} PCR${i}`);
        compared++;
      }
    }
    assert.ok(compared >= 8, key);
    for (const [bank, digests] of Object.entries(exp.expected_efi_app_digests ?? {})) {
      const apps = log.events.filter((ev) => ev.eventType === EV.EFI_BOOT_SERVICES_APPLICATION).map((ev) => toHex(ev.digests.find((d) => d.bank === bank.toLowerCase())!.digest));
      for (const d of digests) assert.ok(apps.includes(d), `${key}: ${bank} app digest ${d}`);
    }
  }
});

test('formats: the legacy SHA-1 log and the crypto-agile header are recognised', () => {
  const legacy = parseEventLog(corpusFile('tpm/go-tpm-tools/eventlogs/debian-10.bin'));
  assert.equal(legacy.format, 'sha1');
  assert.equal(legacy.specId, undefined);
  const agile = parseEventLog(corpusFile('tpm/go-tpm-tools/eventlogs/rhel8-uefi.bin'));
  assert.equal(agile.format, 'crypto-agile');
  assert.deepEqual(agile.specId?.algorithms.map((a) => [a.bank, a.digestSize]), [['sha1', 20], ['sha256', 32], ['sha384', 48]].filter(([b]) => agile.specId!.algorithms.some((a) => a.bank === b)));
  const described = agile.events.map(describeEvent);
  assert.ok(described.some((d) => d.type === 'EV_EFI_BOOT_SERVICES_APPLICATION' && typeof d.devicePath === 'string'));
  assert.ok(described.some((d) => d.type === 'EV_EFI_VARIABLE_DRIVER_CONFIG' && d.variableName === 'SecureBoot'));
  assert.ok(described.some((d) => d.type === 'EV_SEPARATOR' && d.value === '00000000'));
});

test('CCEL (TDX, SHA-384, 0xFF padded) parses and round-trips', async () => {
  const bytes = corpusFile('tdx/trustee/CCEL_data_ovmf');
  const log = parseEventLog(bytes);
  assert.equal(log.format, 'crypto-agile');
  assert.deepEqual(log.specId?.algorithms.map((a) => a.alg), [TPM_ALG.SHA384]);
  assert.ok(log.paddingBytes > 0);
  assert.deepEqual(encodeEventLog(log), bytes);
  const { banks } = await replayEventLog(log);
  assert.ok(banks.get(TPM_ALG.SHA384)!.pcrs.has(1));
  assert.throws(() => parseEventLog(bytes, { allowPadding: false }), (e: AttestError) => e.code === 'ERR_EVIDENCE_MALFORMED');
});

test('encodeEventLog(parseEventLog(x)) is byte-exact for every corpus log', () => {
  for (const exp of Object.values(expectedAll)) {
    const bytes = corpusFile(`tpm/go-tpm-tools/${exp.file}`);
    assert.deepEqual(encodeEventLog(parseEventLog(bytes)), bytes, exp.file);
  }
});

// Synthetic logs for every error path.
const spec = (over: Partial<SpecIdEvent> = {}): SpecIdEvent => ({
  signature: 'Spec ID Event03', platformClass: 0, specVersionMajor: 2, specVersionMinor: 0, specErrata: 0, uintnSize: 2,
  algorithms: [{ alg: TPM_ALG.SHA1, bank: 'sha1', digestSize: 20 }, { alg: TPM_ALG.SHA256, bank: 'sha256', digestSize: 32 }], vendorInfo: new Uint8Array(0), ...over,
});
const ev = (pcrIndex: number, eventType: number, digests: TcgEvent['digests'], data: Uint8Array): TcgEvent => ({ seq: 0, offset: 0, pcrIndex, eventType, typeName: '', digests, data });
const header = (s: Uint8Array): TcgEvent => ev(0, EV.NO_ACTION, [{ alg: TPM_ALG.SHA1, bank: 'sha1', digest: new Uint8Array(20) }], s);
const d1 = (b: number): TcgEvent['digests'][number] => ({ alg: TPM_ALG.SHA1, bank: 'sha1', digest: new Uint8Array(20).fill(b) });
const d256 = (b: number): TcgEvent['digests'][number] => ({ alg: TPM_ALG.SHA256, bank: 'sha256', digest: new Uint8Array(32).fill(b) });
const agile = (events: TcgEvent[], s = encodeSpecId(spec())): Uint8Array => encodeEventLog({ format: 'crypto-agile', events: [header(s), ...events] });

test('synthetic: replay follows PCR = H(PCR || digest), honours StartupLocality, skips EV_NO_ACTION', async () => {
  const loc = concatBytes(utf8('StartupLocality'), new Uint8Array([0, 3]));
  const bytes = agile([
    ev(0, EV.NO_ACTION, [d1(0), d256(0)], loc),
    ev(0, EV.S_CRTM_VERSION, [d1(1), d256(1)], new Uint8Array([0x41, 0, 0, 0])),
    ev(5, EV.NO_ACTION, [d1(9), d256(9)], new Uint8Array(4)),
  ]);
  const log = parseEventLog(bytes);
  const { banks } = await replayEventLog(log);
  const init = new Uint8Array(32);
  init[31] = 3;
  assert.deepEqual(banks.get(TPM_ALG.SHA256)!.pcrs.get(0), await sha256(concatBytes(init, new Uint8Array(32).fill(1))));
  assert.equal(banks.get(TPM_ALG.SHA256)!.pcrs.has(5), false);
  assert.equal(describeEvent(log.events[1]!).startupLocality, 3);
});

test('synthetic: a bank missing from one event cannot be replayed; SM3 is reported unsupported', async () => {
  const log = parseEventLog(agile([ev(1, EV.SEPARATOR, [d1(1)], new Uint8Array(4))]));
  await assert.rejects(replayEventLog(log), (e: AttestError) => e.code === 'ERR_EVIDENCE_MALFORMED');
  const ok = await replayEventLog(log, { banks: [TPM_ALG.SHA1] });
  assert.ok(ok.banks.get(TPM_ALG.SHA1)!.pcrs.has(1));
  const sm3 = parseEventLog(agile([ev(1, EV.SEPARATOR, [{ alg: TPM_ALG.SM3_256, bank: 'sm3_256', digest: new Uint8Array(32) }], new Uint8Array(4))], encodeSpecId(spec({ algorithms: [{ alg: TPM_ALG.SM3_256, bank: 'sm3_256', digestSize: 32 }] }))));
  const r = await replayEventLog(sm3);
  assert.deepEqual(r.unsupported, [TPM_ALG.SM3_256]);
});

test('synthetic: every parser error path is ERR_EVIDENCE_MALFORMED', () => {
  const good = encodeSpecId(spec());
  const cases: [string, Uint8Array, object?][] = [
    ['empty', new Uint8Array(0)],
    ['truncated first event', agile([]).subarray(0, 20)],
    ['Spec ID Event00 header', encodeEventLog({ format: 'sha1', events: [header(concatBytes(utf8('Spec ID Event00'), new Uint8Array(17)))] })],
    ['zero algorithms', agile([], encodeSpecId(spec({ algorithms: [] })))],
    ['zero digest size', agile([], encodeSpecId(spec({ algorithms: [{ alg: TPM_ALG.SHA1, bank: 'sha1', digestSize: 0 }] })))],
    ['duplicate algorithm', agile([], encodeSpecId(spec({ algorithms: [{ alg: TPM_ALG.SHA1, bank: 'sha1', digestSize: 20 }, { alg: TPM_ALG.SHA1, bank: 'sha1', digestSize: 20 }] })))],
    ['Spec ID trailing data', agile([], concatBytes(good, new Uint8Array([1])))],
    ['too many digests', agile([ev(0, 1, [d1(1), d256(1), d256(2)], new Uint8Array(0))])],
    ['unknown digest algorithm', agile([ev(0, 1, [{ alg: TPM_ALG.SHA384, bank: 'sha384', digest: new Uint8Array(48) }], new Uint8Array(0))])],
    ['duplicate digest', agile([ev(0, 1, [d1(1), d1(2)], new Uint8Array(0))])],
    ['event data truncated', agile([ev(0, 1, [d1(1), d256(1)], new Uint8Array(8))]).subarray(0, -3)],
    ['oversized event', agile([ev(0, 1, [d1(1), d256(1)], new Uint8Array(64))]), { maxEventSize: 32 }],
    ['too many events', agile([ev(0, 1, [d1(1), d256(1)], new Uint8Array(1)), ev(0, 1, [d1(1), d256(1)], new Uint8Array(1))]), { maxEvents: 2 }],
    ['legacy oversized', encodeEventLog({ format: 'sha1', events: [ev(0, 8, [d1(1)], new Uint8Array(64))] }), { maxEventSize: 32 }],
  ];
  for (const [name, bytes, opts] of cases) {
    assert.throws(() => parseEventLog(bytes, opts), (e: unknown) => e instanceof AttestError && e.code === 'ERR_EVIDENCE_MALFORMED', name);
  }
});

test('property: random or truncated input yields a log or an AttestError, never another exception', () => {
  const base = corpusFile('tpm/go-tpm-tools/eventlogs/cos-85-amd-sev.bin');
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), fc.nat({ max: base.length }).map((n) => base.slice(0, n)), fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
      const m = base.slice();
      m[i] = b;
      return m;
    })), (bytes) => {
      try {
        const log = parseEventLog(bytes);
        for (const e of log.events) describeEvent(e);
      } catch (e) {
        assert.ok(e instanceof AttestError, String(e));
      }
    }),
    { numRuns: 200 },
  );
});

test('property: changing any digest byte changes the replayed PCR', async () => {
  const bytes = corpusFile('tpm/go-tpm-tools/eventlogs/cos-85-amd-sev.bin');
  const log = parseEventLog(bytes);
  const ref = replayToJson(await replayEventLog(log, { banks: [TPM_ALG.SHA256] }));
  const measured = log.events.filter((e) => e.eventType !== EV.NO_ACTION);
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: measured.length - 1 }), fc.nat({ max: 31 }), async (i, j) => {
      const target = measured[i]!;
      const copy = parseEventLog(bytes);
      const d = copy.events[target.seq]!.digests.find((x) => x.alg === TPM_ALG.SHA256)!.digest;
      d[j] = d[j]! ^ 0x01;
      const out = replayToJson(await replayEventLog(copy, { banks: [TPM_ALG.SHA256] }));
      assert.notEqual(out.sha256![String(target.pcrIndex)], ref.sha256![String(target.pcrIndex)]);
    }),
    { numRuns: 50 },
  );
});
