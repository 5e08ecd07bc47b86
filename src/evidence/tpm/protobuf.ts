/**
 * A minimal protocol-buffers wire-format reader (https://protobuf.dev/programming-guides/encoding/):
 * varint (0), I64 (1), LEN (2) and I32 (5) records. Groups (3, 4) are rejected. Bounds-checked;
 * every failure is EvidenceMalformed. Enough to import go-tpm-tools' `Attestation` message.
 */
import { EvidenceMalformed } from '../../core/index.ts';

export interface PbField {
  field: number;
  wireType: 0 | 1 | 2 | 5;
  /** For varints: the value (as a number when ≤ 2^53, else a bigint). */
  varint?: bigint;
  /** For LEN, I32 and I64 records: the payload bytes. */
  bytes?: Uint8Array;
  offset: number;
}

export function readProtobuf(bytes: Uint8Array, tee: string, what: string, base = 0): PbField[] {
  let p = 0;
  const fail = (reason: string, at = p): never => {
    throw new EvidenceMalformed(tee, what, base + at, reason);
  };
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (p >= bytes.length) fail('truncated varint');
      const b = bytes[p++]!;
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        if (v >= 1n << 64n) fail('varint exceeds 64 bits');
        return v;
      }
    }
    return fail('varint longer than 10 bytes');
  };
  const out: PbField[] = [];
  while (p < bytes.length) {
    const offset = p;
    const key = varint();
    const field = Number(key >> 3n);
    const wt = Number(key & 7n);
    if (field === 0 || field > 536870911) fail(`invalid field number ${field}`, offset);
    if (wt === 0) out.push({ field, wireType: 0, varint: varint(), offset });
    else if (wt === 2) {
      const n = varint();
      if (n > BigInt(bytes.length - p)) fail(`length ${n} overruns the ${bytes.length - p} remaining bytes`);
      out.push({ field, wireType: 2, bytes: bytes.slice(p, p + Number(n)), offset });
      p += Number(n);
    } else if (wt === 1 || wt === 5) {
      const n = wt === 1 ? 8 : 4;
      if (p + n > bytes.length) fail('truncated fixed-width field');
      out.push({ field, wireType: wt, bytes: bytes.slice(p, p + n), offset });
      p += n;
    } else fail(`unsupported wire type ${wt}`, offset);
  }
  return out;
}
