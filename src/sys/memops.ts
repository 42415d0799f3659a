/**
 * memcmp and memcpy on raw addresses (numbers: uintptr_t, so a call makes no object), for the
 * compare mechanism's diff: the C library's own, libc on Linux, msvcrt on Windows. Loaded on first use.
 */
import koffi from 'koffi';
import { libc } from './libc/libc.js';

export interface MemOps {
  memcmp(a: number, b: number, n: number): number;
  /** Declared void: koffi makes no object for the pointer memcpy returns. */
  memcpy(dst: number, src: number, n: number): void;
}

let ops: MemOps | undefined;

export function memops(): MemOps {
  if (ops) return ops;
  if (process.platform === 'win32') {
    const crt = koffi.load('msvcrt.dll');
    return (ops = {
      memcmp: crt.func('int memcmp(uintptr_t a, uintptr_t b, size_t n)') as MemOps['memcmp'],
      memcpy: crt.func('void memcpy(uintptr_t dst, uintptr_t src, size_t n)') as MemOps['memcpy'],
    });
  }
  const c = libc();
  return (ops = { memcmp: c.memcmp, memcpy: c.memcpy });
}
