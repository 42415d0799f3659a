/**
 * The C reference (bench/c/scan.c): compiled with the machine's `cc` into bench/build/ as a shared
 * object and called through koffi, so C and JS scan in the same process, in alternation. Timings
 * are taken inside C. Returns null (and says why) when there is no compiler.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, '..', 'c', 'scan.c');
const output = join(here, '..', 'build', 'libwwbench.so');

function compile(log) {
  const cc = process.env.CC || 'cc';
  let fresh = false;
  try {
    fresh = statSync(output).mtimeMs >= statSync(source).mtimeMs;
  } catch {
    /* not built yet */
  }
  if (fresh) return true;
  mkdirSync(dirname(output), { recursive: true });
  try {
    // Built beside and renamed into place: a bench and a test compiling at once never load half a file.
    const tmp = `${output}.${process.pid}.tmp`;
    execFileSync(cc, ['-O2', '-Wall', '-shared', '-fPIC', '-o', tmp, source], { stdio: ['ignore', 'ignore', 'pipe'] });
    renameSync(tmp, output);
    log(`compiled bench/c/scan.c with ${cc} -O2`);
    return true;
  } catch (e) {
    const why = e.code === 'ENOENT' ? `no C compiler (\`${cc}\` not found on PATH; install gcc, or set CC)` : `${cc} failed: ${String(e.stderr || e.message).trim()}`;
    log(`C reference SKIPPED: ${why}. The C rows are left out.`);
    return false;
  }
}

/** `cc --version`'s first line, for the report. */
export function compilerVersion() {
  try {
    return execFileSync(process.env.CC || 'cc', ['--version'], { encoding: 'utf8' }).split('\n')[0].trim();
  } catch {
    return 'none';
  }
}

/** The C loop, or null with the reason logged. */
export function loadNative(log) {
  if (!compile(log)) return null;
  const lib = koffi.load(output);
  const fns = {
    open: lib.func('void *wwb_open(uint64_t len)'),
    close: lib.func('void wwb_close(void *w)'),
    address: lib.func('uint64_t wwb_address(void *w)'),
    timeScan: lib.func('double wwb_time_scan(void *w, uint64_t offset, uint64_t length, int reset, int iters, void *pages)'),
    timeScanChecked: lib.func('double wwb_time_scan_checked(void *w, uint64_t offset, uint64_t length, int reset, int iters, void *pages)'),
    timeScanAt: lib.func('double wwb_time_scan_at(void *w, uint64_t addr, uint64_t length, int reset, int iters, void *pages)'),
    result: lib.func('uint64_t wwb_result(void *w, uint64_t i)'),
    timeReset: lib.func('double wwb_time_reset(void *w, int method)'),
    timeTouch: lib.func('double wwb_time_touch(uint64_t base, void *pages, uint32_t n, uint32_t value)'),
    parOpen: lib.func('void *wwb_par_open(void *w, int threads)'),
    parClose: lib.func('void wwb_par_close(void *p)'),
    parScan: lib.func('double wwb_par_scan(void *p, uint64_t addr, uint64_t length, int reset, void *pages)'),
  };
  const pagesOut = new BigInt64Array(1);
  return {
    /** A tracked region set up exactly as WriteWatch.allocate does. */
    region(length) {
      const w = fns.open(length);
      if (!w) throw new Error(`C wwb_open(${length}) failed: errno ${koffi.errno()}`);
      const address = Number(fns.address(w));
      return {
        address,
        length,
        /** ns for `iters` scans of [offset, offset+len); `pages` of the last one. */
        scan(reset, iters = 1, offset = 0, len = length) {
          const ns = fns.timeScan(w, offset, len, reset ? 1 : 0, iters, pagesOut);
          if (ns < 0) throw new Error(`C scan failed: errno ${koffi.errno()}`);
          return { ns, pages: Number(pagesOut[0]) };
        },
        /** As scan(), plus the library's per-call safety checks (msync; before a reset, the registration scan). */
        scanChecked(reset, iters = 1, offset = 0, len = length) {
          const ns = fns.timeScanChecked(w, offset, len, reset ? 1 : 0, iters, pagesOut);
          if (ns < 0) throw new Error(`C checked scan failed: errno ${koffi.errno()}`);
          return { ns, pages: Number(pagesOut[0]) };
        },
        /** The C loop over [addr, addr + len) of any tracked memory of this process (e.g. a WriteWatch's). */
        scanAt(addr, len, reset, iters = 1) {
          const ns = fns.timeScanAt(w, addr, len, reset ? 1 : 0, iters, pagesOut);
          if (ns < 0) throw new Error(`C scan at 0x${addr.toString(16)} failed: errno ${koffi.errno()}`);
          return { ns, pages: Number(pagesOut[0]) };
        },
        result: (i) => Number(fns.result(w, i)),
        /** 0 UFFDIO_WRITEPROTECT, 1 PAGEMAP_SCAN vec_len 0, 2 PAGEMAP_SCAN with a vector. */
        reset(method) {
          const ns = fns.timeReset(w, method);
          if (ns < 0) throw new Error(`C reset ${method} failed: errno ${koffi.errno()}`);
          return ns;
        },
        touch: (pages, value) => fns.timeTouch(address, pages, pages.length, value),
        /** A pool of `threads` scanning threads (this one included) over any memory, with this region's offset array. */
        pool(threads) {
          const p = fns.parOpen(w, threads);
          if (!p) throw new Error(`C wwb_par_open(${threads}) failed: errno ${koffi.errno()}`);
          return {
            /** One scan of [addr, addr + len) split across the pool's threads; timed inside C. */
            scan(addr, len, reset) {
              const ns = fns.parScan(p, addr, len, reset ? 1 : 0, pagesOut);
              if (ns < 0) throw new Error(`C parallel scan failed: errno ${koffi.errno()}`);
              return { ns, pages: Number(pagesOut[0]) };
            },
            close: () => fns.parClose(p),
          };
        },
        close: () => fns.close(w),
      };
    },
    /** One timed store per listed page of any memory (the writer's side, in C). */
    touchAt: (address, pages, value) => fns.timeTouch(address, pages, pages.length, value),
  };
}
