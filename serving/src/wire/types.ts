import {
  DuckDBBlobValue,
  type DuckDBDecimalType,
  type DuckDBListValue,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
} from '@duckdb/node-api';

/** A Postgres type as the wire names it: OID, size (-1 variable) and modifier (numeric precision/scale). */
export interface PgType {
  oid: number;
  size: number;
  modifier: number;
}

/** Postgres OIDs (pg_type.dat). */
export const PG_OID = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  json: 114,
  float4: 700,
  float8: 701,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  timetz: 1266,
  numeric: 1700,
  uuid: 2950,
} as const;

/** Element OID -> array OID. */
export const ARRAY_OF: Record<number, number> = {
  16: 1000,
  17: 1001,
  20: 1016,
  21: 1005,
  23: 1007,
  25: 1009,
  114: 199,
  700: 1021,
  701: 1022,
  1043: 1015,
  1082: 1182,
  1083: 1183,
  1114: 1115,
  1184: 1185,
  1186: 1187,
  1266: 1270,
  1700: 1231,
  2950: 2951,
};

const fixed = (oid: number, size: number): PgType => ({ oid, size, modifier: -1 });

/** The Postgres type a DuckDB column is sent as. Types Postgres has no match for (STRUCT, MAP, UNION) go as text. */
export function pgTypeOf(type: DuckDBType): PgType {
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return fixed(PG_OID.bool, 1);
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.UTINYINT:
      return fixed(PG_OID.int2, 2);
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.USMALLINT:
      return fixed(PG_OID.int4, 4);
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UINTEGER:
      return fixed(PG_OID.int8, 8);
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.BIGNUM:
      return { oid: PG_OID.numeric, size: -1, modifier: -1 };
    case DuckDBTypeId.DECIMAL: {
      const decimal = type as DuckDBDecimalType;
      return { oid: PG_OID.numeric, size: -1, modifier: ((decimal.width << 16) | decimal.scale) + 4 };
    }
    case DuckDBTypeId.FLOAT:
      return fixed(PG_OID.float4, 4);
    case DuckDBTypeId.DOUBLE:
      return fixed(PG_OID.float8, 8);
    case DuckDBTypeId.VARCHAR:
      return type.alias === 'JSON' ? fixed(PG_OID.json, -1) : fixed(PG_OID.text, -1);
    case DuckDBTypeId.BLOB:
      return fixed(PG_OID.bytea, -1);
    case DuckDBTypeId.DATE:
      return fixed(PG_OID.date, 4);
    case DuckDBTypeId.TIME:
    case DuckDBTypeId.TIME_NS:
      return fixed(PG_OID.time, 8);
    case DuckDBTypeId.TIME_TZ:
      return fixed(PG_OID.timetz, 12);
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
      return fixed(PG_OID.timestamp, 8);
    case DuckDBTypeId.TIMESTAMP_TZ:
      return fixed(PG_OID.timestamptz, 8);
    case DuckDBTypeId.INTERVAL:
      return fixed(PG_OID.interval, 16);
    case DuckDBTypeId.UUID:
      return fixed(PG_OID.uuid, 16);
    case DuckDBTypeId.ENUM:
      return fixed(PG_OID.text, -1);
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const element = pgTypeOf((type as unknown as { valueType: DuckDBType }).valueType);
      const array = ARRAY_OF[element.oid];
      return array ? { oid: array, size: -1, modifier: -1 } : fixed(PG_OID.text, -1);
    }
    default:
      return fixed(PG_OID.text, -1);
  }
}

/** A value in Postgres's text format for its type (what psql prints and drivers parse). */
export function pgText(value: DuckDBValue, type: DuckDBType): string | null {
  if (value === null) return null;
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return value ? 't' : 'f';
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE: {
      const n = value as number;
      if (Number.isNaN(n)) return 'NaN';
      if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
      return String(n);
    }
    case DuckDBTypeId.BLOB:
      return `\\x${Buffer.from((value as DuckDBBlobValue).bytes).toString('hex')}`;
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const elementType = (type as unknown as { valueType: DuckDBType }).valueType;
      if (!ARRAY_OF[pgTypeOf(elementType).oid]) return String(value);
      return arrayLiteral((value as DuckDBListValue).items, elementType);
    }
    default:
      return value instanceof DuckDBBlobValue ? `\\x${Buffer.from(value.bytes).toString('hex')}` : String(value);
  }
}

/** `{1,2,NULL}`, elements quoted where Postgres's array parser needs it. */
function arrayLiteral(items: readonly DuckDBValue[], elementType: DuckDBType): string {
  const parts = items.map((item) => {
    const text = pgText(item, elementType);
    if (text === null) return 'NULL';
    if (text === '' || /[{},"\\\s]/.test(text) || text.toUpperCase() === 'NULL') {
      return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
    }
    return text;
  });
  return `{${parts.join(',')}}`;
}

/** The Postgres OID a DuckDB parameter type is announced as (ParameterDescription); unknown ones as text. */
export function pgParameterOid(typeId: DuckDBTypeId, type?: DuckDBType): number {
  if (typeId === DuckDBTypeId.INVALID || typeId === DuckDBTypeId.SQLNULL || !type) return PG_OID.text;
  return pgTypeOf(type).oid;
}

/** Decodes a binary-format parameter of the common fixed-size types into text; the session casts text. */
export function binaryParameterText(oid: number, bytes: Buffer): string {
  switch (oid) {
    case PG_OID.bool:
      return bytes[0] ? 'true' : 'false';
    case PG_OID.int2:
      return String(bytes.readInt16BE(0));
    case PG_OID.int4:
      return String(bytes.readInt32BE(0));
    case PG_OID.int8:
      return bytes.readBigInt64BE(0).toString();
    case PG_OID.float4:
      return String(bytes.readFloatBE(0));
    case PG_OID.float8:
      return String(bytes.readDoubleBE(0));
    case PG_OID.text:
    case PG_OID.varchar:
    case PG_OID.json:
    case 0:
      return bytes.toString('utf8');
    default:
      throw new Error(`binary parameters of type OID ${oid} are not supported; send parameters in text format`);
  }
}
