/** Value conversion between the API types and each dialect's column representation. */
import { AttestError, ErrorCode } from '../core/errors.ts';
import type { StoreDialect, JsonValue } from './types.ts';
import type { DbBool, DbBytes, DbTime } from './schema.ts';

export interface Codec {
  readonly dialect: StoreDialect;
  time(d: Date): DbTime;
  fromTime(v: unknown): Date;
  fromTimeOrNull(v: unknown): Date | null;
  bool(b: boolean): DbBool;
  fromBool(v: unknown): boolean;
  json(v: unknown): string;
  fromJson(v: unknown): JsonValue;
  bytes(b: Uint8Array): DbBytes;
  fromBytes(v: unknown): Uint8Array;
  /** Integer column (SQLite may hand back bigint for large values; PG int8 is parsed to number). */
  fromInt(v: unknown): number;
}

function assertDate(d: Date): Date {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new AttestError(ErrorCode.ConfigInvalid, `invalid date ${String(d)}`);
  return d;
}

function fromInt(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  throw new AttestError(ErrorCode.Internal, `expected an integer column value, got ${typeof v}`);
}

export function codecFor(dialect: StoreDialect): Codec {
  const common = {
    dialect,
    json(v: unknown): string {
      return JSON.stringify(v === undefined ? null : v);
    },
    fromInt,
  };
  if (dialect === 'postgres') {
    return {
      ...common,
      time: (d) => assertDate(d),
      fromTime: (v) => (v instanceof Date ? v : new Date(v as string)),
      fromTimeOrNull: (v) => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(v as string)),
      bool: (b) => b,
      fromBool: (v) => v === true,
      // jsonb comes back parsed by pg.
      fromJson: (v) => (v === undefined ? null : (v as JsonValue)),
      bytes: (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength),
      fromBytes: (v) => new Uint8Array(v as Buffer),
    };
  }
  return {
    ...common,
    time: (d) => assertDate(d).getTime(),
    fromTime: (v) => new Date(fromInt(v)),
    fromTimeOrNull: (v) => (v === null || v === undefined ? null : new Date(fromInt(v))),
    bool: (b) => (b ? 1 : 0),
    fromBool: (v) => v === 1 || v === 1n || v === true,
    fromJson: (v) => (v === null || v === undefined ? null : (JSON.parse(v as string) as JsonValue)),
    bytes: (b) => b,
    fromBytes: (v) => (v instanceof Uint8Array ? v : new Uint8Array(v as ArrayBuffer)),
  };
}
