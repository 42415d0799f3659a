/**
 * Pins every number of the raw ABI layer against the kernel headers. The expected values are typed
 * in by hand from the uapi headers (include/uapi/linux/userfaultfd.h, include/uapi/linux/fs.h,
 * asm-generic/{fcntl,mman-common,ioctl}.h, the syscall tables), never computed with the helpers
 * under test. Each module's exports are listed exhaustively, so a number added without a pin fails.
 * A second, independent check compiles test/support/abi-check.c against the system headers: it,
 * not a comparison of one pinned number with another, checks struct sizes and offsets.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as libcAbi from '../src/sys/libc/abi.js';
import * as archMod from '../src/sys/libc/arch.js';
import * as uffdAbi from '../src/sys/uffd/abi.js';
import * as pmAbi from '../src/sys/pagemap/abi.js';
import { CI } from './support/kernel.js';

/** Every exported value of `mod` must appear in `numbers` or `functions`, and nothing else. */
function expectExhaustive(mod: Record<string, unknown>, numbers: Record<string, unknown>, functions: string[]): void {
  expect(Object.keys(mod).sort()).toEqual([...Object.keys(numbers), ...functions].sort());
  for (const [name, value] of Object.entries(numbers)) expect([name, mod[name]]).toEqual([name, value]);
  for (const f of functions) expect(typeof mod[f]).toBe('function');
}

describe('src/sys/libc/abi.ts', () => {
  it('pins the _IOC encoding, fcntl, mman and sysconf numbers', () => {
    expectExhaustive(
      libcAbi,
      {
        // asm-generic/ioctl.h
        _IOC_NONE: 0,
        _IOC_WRITE: 1,
        _IOC_READ: 2,
        // asm-generic/fcntl.h (octal in the header)
        O_RDONLY: 0,
        O_RDWR: 2,
        O_NONBLOCK: 0o4000,
        O_CLOEXEC: 0o2000000,
        // asm-generic/mman-common.h, x86 and arm64 alike
        PROT_NONE: 0,
        PROT_READ: 1,
        PROT_WRITE: 2,
        PROT_EXEC: 4,
        MAP_SHARED: 0x01,
        MAP_PRIVATE: 0x02,
        MAP_FIXED: 0x10,
        MAP_ANONYMOUS: 0x20,
        MAP_NORESERVE: 0x4000,
        MAP_FIXED_NOREPLACE: 0x100000,
        MAP_FAILED: 0xffffffffffffffffn,
        // linux/mman.h
        MREMAP_MAYMOVE: 1,
        MADV_NORMAL: 0,
        MADV_DONTNEED: 4,
        MADV_HUGEPAGE: 14,
        MADV_NOHUGEPAGE: 15,
        // bits/confname.h
        _SC_PAGESIZE: 30,
      },
      ['_IOC', '_IO', '_IOR', '_IOW', '_IOWR'],
    );
  });

  it('_IOC and friends encode as asm-generic/ioctl.h does', () => {
    // dir << 30 | size << 16 | type << 8 | nr, as unsigned 32-bit.
    expect(libcAbi._IOC(3, 0xaa, 0x3f, 24)).toBe(0xc018aa3f);
    expect(libcAbi._IOWR(0xaa, 0x3f, 24)).toBe(0xc018aa3f);
    expect(libcAbi._IOR(0xaa, 0x01, 16)).toBe(0x8010aa01);
    expect(libcAbi._IOW(0x66, 1, 8)).toBe(0x40086601);
    expect(libcAbi._IO(0xaa, 0)).toBe(0x0000aa00);
    expect(libcAbi._IOWR(0x66, 16, 96)).toBe(0xc0606610);
    // The largest size the 14-bit field holds.
    expect(libcAbi._IOC(0, 0, 0, 0x3fff)).toBe(0x3fff0000);
    expect(libcAbi._IOC(2, 0xff, 0xff, 0x3fff)).toBe(0xbfffffff);
  });

  it('_IOC refuses sizes that do not fit its 14-bit field', () => {
    expect(() => libcAbi._IOC(3, 0xaa, 0, 0x4000)).toThrow(RangeError);
    expect(() => libcAbi._IOC(3, 0xaa, 0, -1)).toThrow(RangeError);
    expect(() => libcAbi._IOWR(0x66, 16, 1 << 20)).toThrow(RangeError);
  });

  describe('on an architecture without numbers', () => {
    const real = Object.getOwnPropertyDescriptor(process, 'arch')!;
    afterEach(() => {
      Object.defineProperty(process, 'arch', real);
    });
    for (const name of ['ppc64', 'mips', 's390x', 'ia32', 'arm']) {
      it(`${name}: _IOC and arch() throw ERR_WRITEWATCH_UNSUPPORTED`, () => {
        Object.defineProperty(process, 'arch', { ...real, value: name });
        expect(() => libcAbi._IOWR(0xaa, 0x3f, 24)).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_UNSUPPORTED' }));
        expect(() => libcAbi._IO(0xaa, 0)).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_UNSUPPORTED' }));
        expect(() => archMod.arch()).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_UNSUPPORTED' }));
        expect(() => archMod.arch()).toThrow(new RegExp(name));
      });
    }
  });
});

describe('src/sys/libc/arch.ts', () => {
  it('pins the syscall numbers and minimum kernels per architecture', () => {
    expect(Object.keys(archMod).sort()).toEqual(['ARCHES', 'arch', 'archOf']);
    expect(archMod.ARCHES).toEqual({
      // arch/x86/entry/syscalls/syscall_64.tbl: 39 getpid, 323 userfaultfd
      x64: { name: 'x64', SYS_userfaultfd: 323, SYS_getpid: 39, minKernel: [6, 7] },
      // include/uapi/asm-generic/unistd.h: 172 __NR_getpid, 282 __NR_userfaultfd
      arm64: { name: 'arm64', SYS_userfaultfd: 282, SYS_getpid: 172, minKernel: [6, 10] },
    });
  });

  it('archOf knows only its own keys', () => {
    expect(archMod.archOf('x64')?.SYS_userfaultfd).toBe(323);
    expect(archMod.archOf('arm64')?.SYS_userfaultfd).toBe(282);
    for (const name of ['ppc64', 'toString', '__proto__', 'constructor', 'hasOwnProperty', '']) {
      expect(archMod.archOf(name)).toBeUndefined();
    }
  });

  it('arch() answers for this machine', () => {
    expect(archMod.arch()).toBe(archMod.ARCHES[process.arch]);
  });
});

describe('src/sys/uffd/abi.ts', () => {
  it('pins every struct, ioctl, mode and feature number of userfaultfd.h', () => {
    expectExhaustive(
      uffdAbi,
      {
        UFFD_API: 0xaa,
        UFFDIO: 0xaa,
        UFFD_USER_MODE_ONLY: 1,
        UFFDIO_API_SIZE: 24,
        UFFDIO_API_OFF: { api: 0, features: 8, ioctls: 16 },
        UFFDIO_RANGE_SIZE: 16,
        UFFDIO_RANGE_OFF: { start: 0, len: 8 },
        UFFDIO_REGISTER_SIZE: 32,
        UFFDIO_REGISTER_OFF: { start: 0, len: 8, mode: 16, ioctls: 24 },
        UFFDIO_WRITEPROTECT_SIZE: 24,
        UFFDIO_WRITEPROTECT_OFF: { start: 0, len: 8, mode: 16 },
        _UFFDIO_REGISTER: 0x00,
        _UFFDIO_UNREGISTER: 0x01,
        _UFFDIO_WAKE: 0x02,
        _UFFDIO_COPY: 0x03,
        _UFFDIO_ZEROPAGE: 0x04,
        _UFFDIO_MOVE: 0x05,
        _UFFDIO_WRITEPROTECT: 0x06,
        _UFFDIO_CONTINUE: 0x07,
        _UFFDIO_POISON: 0x08,
        _UFFDIO_API: 0x3f,
        UFFDIO_API: 0xc018aa3f,
        UFFDIO_REGISTER: 0xc020aa00,
        UFFDIO_UNREGISTER: 0x8010aa01,
        UFFDIO_WAKE: 0x8010aa02,
        UFFDIO_WRITEPROTECT: 0xc018aa06,
        USERFAULTFD_IOC_NEW: 0xaa00,
        UFFDIO_REGISTER_MODE_MISSING: 1n,
        UFFDIO_REGISTER_MODE_WP: 2n,
        UFFDIO_REGISTER_MODE_MINOR: 4n,
        UFFDIO_WRITEPROTECT_MODE_WP: 1n,
        UFFDIO_WRITEPROTECT_MODE_DONTWAKE: 2n,
        UFFD_FEATURE: {
          PAGEFAULT_FLAG_WP: 0x1n,
          EVENT_FORK: 0x2n,
          EVENT_REMAP: 0x4n,
          EVENT_REMOVE: 0x8n,
          MISSING_HUGETLBFS: 0x10n,
          MISSING_SHMEM: 0x20n,
          EVENT_UNMAP: 0x40n,
          SIGBUS: 0x80n,
          THREAD_ID: 0x100n,
          MINOR_HUGETLBFS: 0x200n,
          MINOR_SHMEM: 0x400n,
          EXACT_ADDRESS: 0x800n,
          WP_HUGETLBFS_SHMEM: 0x1000n,
          WP_UNPOPULATED: 0x2000n,
          POISON: 0x4000n,
          // Mainline is 1 << 15; early patch versions had 1 << 14.
          WP_ASYNC: 0x8000n,
          MOVE: 0x10000n,
        },
        WRITEWATCH_FEATURES: 0xa000n,
      },
      ['featureNames'],
    );
  });

  it('featureNames names set bits in bit order and ignores unknown ones', () => {
    expect(uffdAbi.featureNames(0n)).toEqual([]);
    expect(uffdAbi.featureNames(0xa000n)).toEqual(['UFFD_FEATURE_WP_UNPOPULATED', 'UFFD_FEATURE_WP_ASYNC']);
    expect(uffdAbi.featureNames(0x1n | (1n << 40n))).toEqual(['UFFD_FEATURE_PAGEFAULT_FLAG_WP']);
    // What 6.18 grants (kernel.md §1b): all of bits 0-16.
    expect(uffdAbi.featureNames(0x1ffffn)).toHaveLength(17);
  });
});

describe('src/sys/pagemap/abi.ts', () => {
  it('pins pm_scan_arg, page_region, PAGEMAP_SCAN, flags and categories of fs.h', () => {
    expectExhaustive(
      pmAbi,
      {
        PROCFS_IOCTL_MAGIC: 0x66,
        // __u64 index of each field: byte offsets 0, 8, ... 88.
        PM_SCAN_ARG: {
          size: 0,
          flags: 1,
          start: 2,
          end: 3,
          walk_end: 4,
          vec: 5,
          vec_len: 6,
          max_pages: 7,
          category_inverted: 8,
          category_mask: 9,
          category_anyof_mask: 10,
          return_mask: 11,
        },
        PM_SCAN_ARG_SIZE: 96,
        PAGE_REGION: { start: 0, end: 1, categories: 2 },
        PAGE_REGION_SIZE: 24,
        PAGEMAP_SCAN: 0xc0606610,
        PM_SCAN_WP_MATCHING: 0x1,
        PM_SCAN_CHECK_WPASYNC: 0x2,
        PM_SCAN_FLAGS: 0x3,
        PAGE_IS: {
          WPALLOWED: 0x01,
          WRITTEN: 0x02,
          FILE: 0x04,
          PRESENT: 0x08,
          SWAPPED: 0x10,
          PFNZERO: 0x20,
          HUGE: 0x40,
          SOFT_DIRTY: 0x80,
          GUARD: 0x100,
        },
        PM_SCAN_CATEGORIES_6_7: 0x7f,
        PM_SCAN_CATEGORIES_ALL: 0x1ff,
      },
      [],
    );
  });

});

/** Our name of each number the C program prints (abi-check.c uses the header's names). */
function ours(): Record<string, number | bigint> {
  const u = uffdAbi, p = pmAbi, l = libcAbi;
  const m: Record<string, number | bigint> = {
    UFFD_API: u.UFFD_API, UFFDIO: u.UFFDIO, UFFD_USER_MODE_ONLY: u.UFFD_USER_MODE_ONLY,
    UFFDIO_API: u.UFFDIO_API, UFFDIO_REGISTER: u.UFFDIO_REGISTER, UFFDIO_UNREGISTER: u.UFFDIO_UNREGISTER,
    UFFDIO_WAKE: u.UFFDIO_WAKE, UFFDIO_WRITEPROTECT: u.UFFDIO_WRITEPROTECT, USERFAULTFD_IOC_NEW: u.USERFAULTFD_IOC_NEW,
    _UFFDIO_REGISTER: u._UFFDIO_REGISTER, _UFFDIO_UNREGISTER: u._UFFDIO_UNREGISTER, _UFFDIO_WAKE: u._UFFDIO_WAKE,
    _UFFDIO_COPY: u._UFFDIO_COPY, _UFFDIO_ZEROPAGE: u._UFFDIO_ZEROPAGE, _UFFDIO_WRITEPROTECT: u._UFFDIO_WRITEPROTECT,
    _UFFDIO_CONTINUE: u._UFFDIO_CONTINUE, _UFFDIO_API: u._UFFDIO_API,
    UFFDIO_REGISTER_MODE_MISSING: u.UFFDIO_REGISTER_MODE_MISSING, UFFDIO_REGISTER_MODE_WP: u.UFFDIO_REGISTER_MODE_WP,
    UFFDIO_REGISTER_MODE_MINOR: u.UFFDIO_REGISTER_MODE_MINOR, UFFDIO_WRITEPROTECT_MODE_WP: u.UFFDIO_WRITEPROTECT_MODE_WP,
    UFFDIO_WRITEPROTECT_MODE_DONTWAKE: u.UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
    'sizeof.uffdio_api': u.UFFDIO_API_SIZE, 'sizeof.uffdio_range': u.UFFDIO_RANGE_SIZE,
    'sizeof.uffdio_register': u.UFFDIO_REGISTER_SIZE, 'sizeof.uffdio_writeprotect': u.UFFDIO_WRITEPROTECT_SIZE,
    'uffdio_register.range': u.UFFDIO_REGISTER_OFF.start, 'uffdio_writeprotect.range': u.UFFDIO_WRITEPROTECT_OFF.start,
    PAGEMAP_SCAN: p.PAGEMAP_SCAN, 'sizeof.pm_scan_arg': p.PM_SCAN_ARG_SIZE, 'sizeof.page_region': p.PAGE_REGION_SIZE,
    O_RDONLY: l.O_RDONLY, O_RDWR: l.O_RDWR, O_NONBLOCK: l.O_NONBLOCK, O_CLOEXEC: l.O_CLOEXEC,
    PROT_NONE: l.PROT_NONE, PROT_READ: l.PROT_READ, PROT_WRITE: l.PROT_WRITE, PROT_EXEC: l.PROT_EXEC,
    MAP_SHARED: l.MAP_SHARED, MAP_PRIVATE: l.MAP_PRIVATE, MAP_FIXED: l.MAP_FIXED, MAP_ANONYMOUS: l.MAP_ANONYMOUS,
    MAP_NORESERVE: l.MAP_NORESERVE, MAP_FIXED_NOREPLACE: l.MAP_FIXED_NOREPLACE, MAP_FAILED: l.MAP_FAILED,
    MREMAP_MAYMOVE: l.MREMAP_MAYMOVE,
    MADV_NORMAL: l.MADV_NORMAL, MADV_DONTNEED: l.MADV_DONTNEED, MADV_HUGEPAGE: l.MADV_HUGEPAGE,
    MADV_NOHUGEPAGE: l.MADV_NOHUGEPAGE, _SC_PAGESIZE: l._SC_PAGESIZE,
    SYS_userfaultfd: archMod.arch().SYS_userfaultfd, SYS_getpid: archMod.arch().SYS_getpid,
  };
  for (const [f, v] of Object.entries(u.UFFD_FEATURE)) m[`UFFD_FEATURE_${f}`] = v;
  for (const [f, off] of Object.entries(u.UFFDIO_API_OFF)) m[`uffdio_api.${f}`] = off;
  for (const [f, off] of Object.entries(u.UFFDIO_RANGE_OFF)) m[`uffdio_range.${f}`] = off;
  for (const f of ['mode', 'ioctls'] as const) m[`uffdio_register.${f}`] = u.UFFDIO_REGISTER_OFF[f];
  m['uffdio_writeprotect.mode'] = u.UFFDIO_WRITEPROTECT_OFF.mode;
  for (const [f, i] of Object.entries(p.PM_SCAN_ARG)) m[`pm_scan_arg.${f}`] = 8 * i;
  for (const [f, i] of Object.entries(p.PAGE_REGION)) m[`page_region.${f}`] = 8 * i;
  return m;
}

const cc = ['cc', 'gcc'].find((c) => {
  try {
    execFileSync(c, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

describe('against the C compiler and the system headers', () => {
  // Without a compiler: skipped locally, a failure under CI=true (as in 50.fork.test.ts).
  it.skipIf(!cc && !CI)('every number abi-check.c prints equals ours', () => {
    expect(cc, 'no C compiler (cc or gcc): CI must install one').toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'writewatch-abi-'));
    try {
      const exe = join(dir, 'abi-check');
      execFileSync(cc!, ['-Wall', '-Werror', '-o', exe, join(import.meta.dirname, 'support', 'abi-check.c')]);
      const printed = execFileSync(exe, { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((line) => line.split(' ') as [string, string]);
      const m = ours();
      // All 90 lines abi-check.c prints are compared; a name without a counterpart here fails.
      expect(printed.length).toBe(90);
      for (const [name, value] of printed) {
        expect(Object.hasOwn(m, name), `${name} has no counterpart`).toBe(true);
        expect([name, BigInt(m[name])]).toEqual([name, BigInt(value)]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the C source is where the test expects it', () => {
    expect(existsSync(join(import.meta.dirname, 'support', 'abi-check.c'))).toBe(true);
  });
});
