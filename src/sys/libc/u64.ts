/**
 * Kernel structs here are arrays of `__u64`. Hot paths read and write them through a Uint32Array
 * so that no BigInt is allocated: user addresses are below 2^53 (2^47 on x86_64, 2^52 on arm64
 * with LVA), so `lo + hi * 2^32` is exact as a double.
 */
const TWO32 = 4294967296;

/** A struct of `words` __u64 fields in off-heap memory that never moves (safe to hand to the kernel). */
export function u64Struct(words: number): { u64: BigUint64Array; u32: Uint32Array } {
  const buffer = new ArrayBuffer(words * 8);
  return { u64: new BigUint64Array(buffer), u32: new Uint32Array(buffer) };
}

export function put64(u32: Uint32Array, field: number, value: number): void {
  u32[2 * field] = value >>> 0;
  u32[2 * field + 1] = Math.floor(value / TWO32);
}

export function get64(u32: Uint32Array, field: number): number {
  return u32[2 * field] + u32[2 * field + 1] * TWO32;
}
