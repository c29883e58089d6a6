/** ONNX TensorProto.DataType codes, with element sizes. Codes newer than ONNX 1.10 are listed
 * too (IR 9/10 float8 and 4-bit types) so that the IR can describe them even though
 * onnx-proto's generated schema does not know them. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
} as const;
/** An ONNX TensorProto.DataType code (see `DataType`). */
export type DataTypeCode = number;

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(DataType).map(([k, v]) => [v, k.toLowerCase()]));

/** Bits per element; 0 for STRING/UNDEFINED (no fixed size). */
const BITS: Record<number, number> = {
  1: 32, 2: 8, 3: 8, 4: 16, 5: 16, 6: 32, 7: 64, 8: 0, 9: 8, 10: 16, 11: 64, 12: 32, 13: 64,
  14: 64, 15: 128, 16: 16, 17: 8, 18: 8, 19: 8, 20: 8, 21: 4, 22: 4, 23: 4,
};

export function dtypeName(code: DataTypeCode): string {
  return NAMES[code] ?? `dtype(${code})`;
}

export function dtypeBits(code: DataTypeCode): number {
  return BITS[code] ?? 0;
}

/** Bytes needed for `count` elements (4-bit types are packed two per byte). */
export function dtypeBytes(code: DataTypeCode, count: number): number {
  return Math.ceil((dtypeBits(code) * count) / 8);
}

export function isKnownDtype(code: DataTypeCode): boolean {
  return code in BITS;
}
