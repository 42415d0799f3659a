/**
 * AddressSpace: not Windows, but what a runtime whose guest RAM is a WebAssembly.Memory (or an
 * ArrayBuffer / SharedArrayBuffer) needs: VirtualAlloc, VirtualFree, VirtualProtect, VirtualQuery,
 * GetWriteWatch and ResetWriteWatch with guest addresses, with the same rules, answers, codes and
 * check order as the module functions (rules.ts serves both). The last error is the thread's, as
 * for the module functions.
 */
import { types } from 'node:util';
import { isWasmMemory } from '../writewatch/intrinsics.js';
import { ClosedError, InvalidArgTypeError, OutOfRangeError } from '../errors.js';
import type { Box } from './args.js';
import { ALLOCATION_GRANULARITY } from './constants.js';
import * as front from './front.js';
import { GuestSpace, type GuestMemory } from './guest/space.js';

export interface AddressSpaceOptions {
  /** The guest address of the memory's byte 0: a positive multiple of 64 KiB (default 0x10000n). */
  base?: bigint;
}

export class AddressSpace {
  #space: GuestSpace | null;

  constructor(memory: GuestMemory, options: AddressSpaceOptions = {}) {
    const ok = isWasmMemory(memory) || types.isArrayBuffer(memory) || types.isSharedArrayBuffer(memory);
    if (!ok) throw new InvalidArgTypeError('memory', 'a WebAssembly.Memory, ArrayBuffer or SharedArrayBuffer', memory);
    if (typeof options !== 'object' || options === null) throw new InvalidArgTypeError('options', 'an object', options);
    const base = options.base ?? 0x10000n;
    if (typeof base !== 'bigint') throw new InvalidArgTypeError('options.base', 'of type bigint', base);
    const G = BigInt(ALLOCATION_GRANULARITY);
    if (base <= 0n || base % G !== 0n || base >= 2n ** 52n) {
      throw new OutOfRangeError('options.base', 'a positive multiple of 0x10000n below 2n ** 52n', base);
    }
    this.#space = new GuestSpace(memory, Number(base));
  }

  #live(): GuestSpace {
    if (this.#space === null) throw new ClosedError('AddressSpace');
    return this.#space;
  }

  get closed(): boolean {
    return this.#space === null;
  }

  virtualAlloc(address: bigint, size: number, allocationType: number, protect: number): bigint {
    return front.virtualAllocIn(this.#live(), address, size, allocationType, protect);
  }

  virtualFree(address: bigint, size: number, freeType: number): boolean {
    return front.virtualFreeIn(this.#live(), address, size, freeType);
  }

  virtualProtect(address: bigint, size: number, newProtect: number, oldProtect: Box | null): boolean {
    return front.virtualProtectIn(this.#live(), address, size, newProtect, oldProtect);
  }

  virtualQuery(address: bigint, info: object): number {
    return front.virtualQueryIn(this.#live(), address, info);
  }

  getSystemInfo(info: object): void {
    front.getSystemInfoIn(this.#live(), info);
  }

  getWriteWatch(
    flags: number,
    base: bigint,
    size: number,
    addresses: BigUint64Array | bigint[] | null,
    count: Box | null,
    granularity: Box | null,
  ): number {
    return front.getWriteWatchIn(this.#live(), flags, base, size, addresses, count, granularity);
  }

  resetWriteWatch(base: bigint, size: number): number {
    return front.resetWriteWatchIn(this.#live(), base, size);
  }

  /** Releases what the space holds (its WriteWatch, its table); never the memory. Idempotent. */
  close(): void {
    this.#space?.close();
    this.#space = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
