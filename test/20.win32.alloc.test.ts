/**
 * VirtualAlloc / VirtualFree / VirtualProtect: Windows' return values and last errors (Wine's
 * test_VirtualAlloc facts), and the Linux state behind them (/proc/self/maps protections).
 */
import { readFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import * as w from '../src/win32/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

const P = BigInt(PAGE);
const live: bigint[] = [];

afterEach(() => {
  for (const b of live.splice(0)) w.virtualFree(b, 0, w.MEM_RELEASE);
});

function alloc(size: number, type: number, protect: number): bigint {
  const b = w.virtualAlloc(0n, size, type, protect);
  expect(b, `VirtualAlloc failed with ${w.getLastError()}`).not.toBe(0n);
  live.push(b);
  return b;
}

/** The rwxp field of the /proc/self/maps line that holds `addr`. */
function perms(addr: bigint): string | undefined {
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4})/.exec(line);
    if (m && BigInt('0x' + m[1]) <= addr && addr < BigInt('0x' + m[2])) return m[3];
  }
  return undefined;
}

function fails(f: () => bigint | boolean, err: number, label?: string): void {
  w.setLastError(0xdeadbeef);
  const r = f();
  expect(r, label).toBe(typeof r === 'bigint' ? 0n : false);
  expect(w.getLastError(), label).toBe(err);
}

describeKernel('win32: VirtualAlloc', () => {
  it('returns page-aligned memory in the state asked for', () => {
    const rw = alloc(3 * PAGE + 1, w.MEM_RESERVE | w.MEM_COMMIT, w.PAGE_READWRITE);
    expect(rw % P).toBe(0n);
    expect(perms(rw)).toBe('rw-p');
    expect(perms(rw + 3n * P)).toBe('rw-p'); // 3 pages + 1 byte rounds up to 4 pages
    const ro = alloc(PAGE, w.MEM_COMMIT, w.PAGE_READONLY); // MEM_COMMIT alone with no address reserves too
    expect(perms(ro)).toBe('r--p');
    const reserved = alloc(4 * PAGE, w.MEM_RESERVE, w.PAGE_READWRITE);
    expect(perms(reserved)).toBe('---p'); // reserve-only pages are PROT_NONE
    const noaccess = alloc(PAGE, w.MEM_RESERVE | w.MEM_COMMIT, w.PAGE_NOACCESS);
    expect(perms(noaccess)).toBe('---p');
    const top = alloc(PAGE, w.MEM_RESERVE | w.MEM_COMMIT | 0x100000 /* MEM_TOP_DOWN: a hint */, w.PAGE_READWRITE);
    expect(perms(top)).toBe('rw-p');
  });

  it('argument errors, with Windows last errors', () => {
    const rw = w.MEM_RESERVE | w.MEM_COMMIT;
    fails(() => w.virtualAlloc(0n, 0, rw, w.PAGE_READWRITE), 87, 'size 0');
    fails(() => w.virtualAlloc(0n, PAGE, 0, w.PAGE_READWRITE), 87, 'type 0');
    fails(() => w.virtualAlloc(0n, PAGE, w.MEM_DECOMMIT, w.PAGE_READWRITE), 87, 'a free type');
    fails(() => w.virtualAlloc(0n, PAGE, rw | 0x40000000, w.PAGE_READWRITE), 87, 'unknown type bits');
    fails(() => w.virtualAlloc(0n, PAGE, w.MEM_RESET, w.PAGE_READWRITE), w.ERROR_INVALID_ADDRESS, 'MEM_RESET of nothing');
    fails(() => w.virtualAlloc(0n, PAGE, w.MEM_RESET | w.MEM_COMMIT, w.PAGE_READWRITE), 87, 'MEM_RESET with another type');
    fails(() => w.virtualAlloc(0n, PAGE, rw | 0x20000000 /* MEM_LARGE_PAGES */, w.PAGE_READWRITE), w.ERROR_NOT_SUPPORTED, 'large pages');
    fails(() => w.virtualAlloc(0n, PAGE, w.MEM_WRITE_WATCH, w.PAGE_READWRITE), 87, 'MEM_WRITE_WATCH alone');
    fails(() => w.virtualAlloc(0n, PAGE, w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE), 87, 'MEM_WRITE_WATCH without MEM_RESERVE');
    fails(() => w.virtualAlloc(0n, PAGE, w.MEM_RESERVE, 0), 87, 'protect 0');
    fails(() => w.virtualAlloc(0n, PAGE, rw, 0), 87, 'protect 0 with commit');
    fails(() => w.virtualAlloc(0n, PAGE, rw, w.PAGE_READONLY | w.PAGE_READWRITE), 87, 'two protections');
    fails(() => w.virtualAlloc(0n, PAGE, rw, 0x08 /* PAGE_WRITECOPY */), 87, 'PAGE_WRITECOPY');
    fails(() => w.virtualAlloc(0n, PAGE, rw, w.PAGE_READONLY | w.PAGE_EXECUTE), 87, 'two base protections (Wine test_VirtualAlloc)');
    fails(() => w.virtualAlloc(0n, PAGE, rw, w.PAGE_EXECUTE_WRITECOPY), 87, 'PAGE_EXECUTE_WRITECOPY');
    fails(() => w.virtualAlloc(0n, PAGE, rw, w.PAGE_NOACCESS | w.PAGE_GUARD), 87, 'a modifier on PAGE_NOACCESS');
    // Inside the user range but larger than any hole in it (the executable, libraries and stack lie
    // inside): not enough memory. Larger than the user range itself: 87, as ReactOS's
    // NtAllocateVirtualMemory checks the size against the highest user address.
    const si = {} as { minimumApplicationAddress: bigint; maximumApplicationAddress: bigint };
    w.getSystemInfo(si);
    const user = Number(si.maximumApplicationAddress - si.minimumApplicationAddress);
    fails(() => w.virtualAlloc(0n, user - 0x20000, w.MEM_RESERVE, w.PAGE_NOACCESS), w.ERROR_NOT_ENOUGH_MEMORY, 'more than any hole');
    fails(() => w.virtualAlloc(0n, 2 ** 50, w.MEM_RESERVE, w.PAGE_NOACCESS), 87, 'more than the address space');
    fails(() => w.virtualAlloc(0n, 2 ** 53 - 1, w.MEM_RESERVE, w.PAGE_NOACCESS), 87, 'past any user address');
  });

  it('commits inside a reservation, returning the rounded base; 487 outside one', () => {
    const b = alloc(16 * PAGE, w.MEM_RESERVE, w.PAGE_NOACCESS);
    expect(w.virtualAlloc(b + 2n * P + 5n, PAGE, w.MEM_COMMIT, w.PAGE_READWRITE)).toBe(b + 2n * P);
    expect(perms(b + 2n * P)).toBe('rw-p');
    expect(perms(b + 3n * P)).toBe('rw-p'); // +5 .. +5+PAGE touches pages 2 and 3
    expect(perms(b + 4n * P)).toBe('---p');
    new Uint8Array(w.viewMemory(b + 2n * P, 2 * PAGE))[10] = 42;
    // Committing again keeps the contents (and applies the new protection, as Wine does).
    expect(w.virtualAlloc(b + 2n * P, PAGE, w.MEM_COMMIT, w.PAGE_READONLY)).toBe(b + 2n * P);
    expect(perms(b + 2n * P)).toBe('r--p');
    expect(new Uint8Array(w.viewMemory(b + 2n * P, PAGE))[10]).toBe(42);
    fails(() => w.virtualAlloc(b + 15n * P, 2 * PAGE, w.MEM_COMMIT, w.PAGE_READWRITE), w.ERROR_INVALID_ADDRESS, 'runs past the end');
    fails(() => w.virtualAlloc(0x10000n, PAGE, w.MEM_COMMIT, w.PAGE_READWRITE), w.ERROR_INVALID_ADDRESS, 'not reserved');
  });

  it('reserves at a given free address, and fails with 487 where something is mapped', () => {
    // A free address is found by reserving and releasing; another thread may map there in between,
    // so that is retried (a failure there is 487, as below), never assumed to work the first time.
    let probe = 0n, b = 0n;
    for (let attempt = 0; attempt < 100 && (b === 0n || b !== probe); attempt++) {
      if (b !== 0n) w.virtualFree(b, 0, w.MEM_RELEASE);
      probe = w.virtualAlloc(0n, 4 * PAGE, w.MEM_RESERVE, w.PAGE_NOACCESS);
      expect(w.virtualFree(probe, 0, w.MEM_RELEASE)).toBe(true);
      b = w.virtualAlloc(probe + 1n, 2 * PAGE, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
      if (b === 0n) expect(w.getLastError()).toBe(w.ERROR_INVALID_ADDRESS);
    }
    expect(b).toBe(probe); // the address is rounded down to 64 KiB
    live.push(b);
    fails(() => w.virtualAlloc(b + P, PAGE, w.MEM_RESERVE, w.PAGE_NOACCESS), w.ERROR_INVALID_ADDRESS, 'occupied');
    fails(() => w.virtualAlloc(b - P, 2 * PAGE, w.MEM_RESERVE, w.PAGE_NOACCESS), w.ERROR_INVALID_ADDRESS, 'overlapping');
  });
});

describeKernel('win32: VirtualFree', () => {
  it('MEM_RELEASE needs size 0 and the base; a second release fails', () => {
    const b = w.virtualAlloc(0n, 4 * PAGE, w.MEM_RESERVE | w.MEM_COMMIT, w.PAGE_READWRITE);
    expect(b).not.toBe(0n);
    fails(() => w.virtualFree(b, PAGE, w.MEM_RELEASE), 87, 'size not 0');
    fails(() => w.virtualFree(b + P, 0, w.MEM_RELEASE), w.ERROR_INVALID_ADDRESS, 'not the base (STATUS_FREE_VM_NOT_AT_BASE)');
    fails(() => w.virtualFree(b, 0, 0), 87, 'type 0');
    fails(() => w.virtualFree(b, 0, w.MEM_RELEASE | w.MEM_DECOMMIT), 87, 'both');
    fails(() => w.virtualFree(b, PAGE, w.MEM_COMMIT), 87, 'an alloc type');
    expect(perms(b)).toBe('rw-p'); // none of the failures freed anything
    expect(w.virtualFree(b, 0, w.MEM_RELEASE)).toBe(true);
    expect(perms(b)).toBeUndefined();
    fails(() => w.virtualFree(b, 0, w.MEM_RELEASE), w.ERROR_INVALID_ADDRESS, 'released twice (STATUS_MEMORY_NOT_ALLOCATED)');
    fails(() => w.virtualFree(0n, 0, w.MEM_RELEASE), 87, 'NULL');
    fails(() => w.virtualFree(0xffff_ffff_ffff_0000n, 0, w.MEM_RELEASE), 87, 'above the user range');
  });

  it('MEM_DECOMMIT drops contents and makes pages inaccessible; size 0 needs the base', () => {
    const b = alloc(4 * PAGE, w.MEM_RESERVE | w.MEM_COMMIT, w.PAGE_READWRITE);
    const view = new Uint8Array(w.viewMemory(b, 4 * PAGE));
    view.fill(7);
    expect(w.virtualFree(b + P, PAGE, w.MEM_DECOMMIT)).toBe(true);
    expect(perms(b + P)).toBe('---p');
    expect(perms(b)).toBe('rw-p');
    const old = { value: 0 };
    fails(() => w.virtualProtect(b + P, PAGE, w.PAGE_READWRITE, old), w.ERROR_INVALID_ADDRESS, 'protect decommitted');
    expect(w.virtualAlloc(b + P, PAGE, w.MEM_COMMIT, w.PAGE_READWRITE)).toBe(b + P);
    expect(view[PAGE]).toBe(0);
    expect(view[0]).toBe(7);
    expect(view[2 * PAGE]).toBe(7);
    fails(() => w.virtualFree(b + P, 0, w.MEM_DECOMMIT), 87, 'size 0 off the base');
    fails(() => w.virtualFree(b + 3n * P, 2 * PAGE, w.MEM_DECOMMIT), 87, 'past the end');
    expect(w.virtualFree(b, 0, w.MEM_DECOMMIT)).toBe(true);
    expect(perms(b + 3n * P)).toBe('---p');
  });
});

describeKernel('win32: VirtualProtect', () => {
  it('NULL oldProtect fails with 998 before any other check', () => {
    const b = alloc(2 * PAGE, w.MEM_RESERVE | w.MEM_COMMIT, w.PAGE_READWRITE);
    fails(() => w.virtualProtect(b, PAGE, w.PAGE_READONLY, null), 998, 'valid otherwise');
    fails(() => w.virtualProtect(0n, PAGE, w.PAGE_READONLY, null), 998, 'and a bad address');
    fails(() => w.virtualProtect(b, PAGE, 0, null), 998, 'and a bad protection');
    expect(perms(b)).toBe('rw-p');
  });

  it('returns the first page protection; 487 over uncommitted pages; 87 for bad protection or range', () => {
    const b = alloc(16 * PAGE, w.MEM_RESERVE, w.PAGE_NOACCESS);
    const old = { value: 99 };
    fails(() => w.virtualProtect(b, 16 * PAGE, w.PAGE_READONLY, old), w.ERROR_INVALID_ADDRESS, 'not committed');
    expect(w.virtualAlloc(b, PAGE, w.MEM_COMMIT, w.PAGE_NOACCESS)).toBe(b);
    fails(() => w.virtualProtect(b, 2 * PAGE, w.PAGE_READONLY, old), w.ERROR_INVALID_ADDRESS, 'partly committed');
    expect(old.value).toBe(99); // untouched on failure
    expect(w.virtualProtect(b, PAGE, w.PAGE_READONLY, old)).toBe(true);
    expect(old.value).toBe(w.PAGE_NOACCESS);
    expect(perms(b)).toBe('r--p');
    expect(w.virtualProtect(b, PAGE, w.PAGE_READWRITE, old)).toBe(true);
    expect(old.value).toBe(w.PAGE_READONLY);
    fails(() => w.virtualProtect(b, PAGE, 0, old), 87, 'protect 0');
    fails(() => w.virtualProtect(b, PAGE, w.PAGE_READWRITE | 0x80, old), 87, 'two base protections');
    fails(() => w.virtualProtect(b, PAGE, w.PAGE_READWRITE | w.PAGE_EXECUTE_WRITECOPY, old), 87, 'two base protections (Wine test_VirtualAlloc)');
    fails(() => w.virtualProtect(b + 15n * P, 2 * PAGE, w.PAGE_READWRITE, old), 87, 'past the end');
    fails(() => w.virtualProtect(0x10000n, PAGE, w.PAGE_READWRITE, old), 87, 'not allocated');
    expect(perms(b)).toBe('rw-p');
  });
});
