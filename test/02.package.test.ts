/**
 * Both entry points resolve by package name from inside the repository (self-reference through
 * package.json `exports`) once `npm test` has built dist/.
 */
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { describeKernel, PAGE } from './support/kernel.js';
import { CHILD_TIMEOUT } from './support/machine.js';

/** Runs an ES module body in a child, from the repository root (so 'writewatch' resolves to dist). */
function child(source: string): unknown {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', source], {
    cwd: new URL('..', import.meta.url),
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT,
  });
  return JSON.parse(out);
}

function exportsOf(specifier: string): string[] {
  return child(`
    const m = await import(${JSON.stringify(specifier)});
    console.log(JSON.stringify(Object.keys(m).sort()));
  `) as string[];
}

it("'writewatch' exports the JS-first API, the errors and the low-level layers", () => {
  expect(exportsOf('writewatch')).toEqual(expect.arrayContaining([
    'WriteWatch', 'probe', 'uffd', 'pagemap',
    'WriteWatchError', 'UnsupportedError', 'ClosedError', 'LostError', 'SystemCallError',
    'InvalidArgTypeError', 'InvalidArgValueError', 'OutOfRangeError',
  ]));
});

it("'writewatch/win32' exports the Windows-shaped functions and constants", () => {
  expect(exportsOf('writewatch/win32')).toEqual(expect.arrayContaining([
    'virtualAlloc', 'virtualFree', 'virtualProtect', 'getWriteWatch', 'resetWriteWatch',
    'ntGetWriteWatch', 'ntResetWriteWatch', 'getLastError', 'setLastError', 'viewMemory',
    'WRITE_WATCH_FLAG_RESET', 'MEM_COMMIT', 'MEM_RESERVE', 'MEM_DECOMMIT', 'MEM_RELEASE', 'MEM_WRITE_WATCH',
    'PAGE_NOACCESS', 'PAGE_READONLY', 'PAGE_READWRITE', 'ERROR_INVALID_PARAMETER', 'ERROR_NOACCESS',
    'ERROR_NOT_SUPPORTED', 'ERROR_INVALID_ADDRESS', 'STATUS_SUCCESS', 'STATUS_INVALID_PARAMETER',
    'STATUS_ACCESS_VIOLATION', 'STATUS_NOT_SUPPORTED',
  ]));
});

describeKernel('through the package name', () => {
  it('every error class is what it is thrown as: instanceof its class, its built-in base and (for ours) WriteWatchError', () => {
    const r = child(`
      import * as ww from 'writewatch';
      import { readFileSync } from 'node:fs';
      const { WriteWatch } = ww;
      const caught = (fn) => { try { fn(); } catch (e) { return e; } throw new Error('did not throw: ' + fn); };
      const closed = WriteWatch.allocate(${PAGE}); closed.close();
      const ab = new ArrayBuffer(1 << 20); const lost = WriteWatch.track(ab); structuredClone(ab, { transfer: [ab] });
      const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
      const cases = {
        UnsupportedError: caught(() => ww.uffd.Userfaultfd.open({ via: ['device'], devicePath: '/nonexistent/userfaultfd' })),
        ClosedError: caught(() => closed.get()),
        LostError: caught(() => lost.get()),
        SystemCallError: caught(() => ww.pagemap.PagemapQuery.open(pidMax)),
        InvalidArgTypeError: caught(() => WriteWatch.allocate('4096')),
        InvalidArgValueError: caught(() => WriteWatch.track(new ArrayBuffer(0))),
        OutOfRangeError: caught(() => WriteWatch.allocate(0)),
      };
      const out = {};
      for (const [name, e] of Object.entries(cases)) {
        out[name] = { own: e instanceof ww[name], base: e instanceof ww.WriteWatchError, type: e instanceof TypeError,
          range: e instanceof RangeError, error: e instanceof Error, code: e.code };
      }
      lost.close();
      console.log(JSON.stringify(out));
    `);
    const ours = { own: true, base: true, type: false, range: false, error: true };
    expect(r).toEqual({
      UnsupportedError: { ...ours, code: 'ERR_WRITEWATCH_UNSUPPORTED' },
      ClosedError: { ...ours, code: 'ERR_WRITEWATCH_CLOSED' },
      LostError: { ...ours, code: 'ERR_WRITEWATCH_LOST' },
      SystemCallError: { own: true, base: expect.any(Boolean), type: false, range: false, error: true, code: 'ENOENT' },
      InvalidArgTypeError: { own: true, base: expect.any(Boolean), type: true, range: false, error: true, code: 'ERR_INVALID_ARG_TYPE' },
      InvalidArgValueError: { own: true, base: expect.any(Boolean), type: true, range: false, error: true, code: 'ERR_INVALID_ARG_VALUE' },
      OutOfRangeError: { own: true, base: expect.any(Boolean), type: false, range: true, error: true, code: 'ERR_OUT_OF_RANGE' },
    });
  });

  it('uffd.Userfaultfd and pagemap.WrittenScanner track memory by themselves, as documented for the low-level layers', () => {
    const r = child(`
      import { uffd, pagemap } from 'writewatch';
      import koffi from 'koffi';
      const P = ${PAGE};
      // Page-aligned memory the test owns: a WebAssembly.Memory's buffer is (64 KiB wasm pages).
      const memory = new WebAssembly.Memory({ initial: 1 });
      const u8 = new Uint8Array(memory.buffer);
      const start = Number(koffi.address(u8)), len = 65536;
      const u = uffd.Userfaultfd.open();
      u.register(start, len);
      u.writeProtect(start, len);
      const scanner = new pagemap.WrittenScanner(pagemap.selfPagemapFd, P);
      const scan = (reset) => { const out = []; scanner.scan(start, start + len, reset, 0, { region(s, e) { for (let a = s; a < e; a += P) out.push(a - start); } }); return out; };
      const before = scan(false);
      u8[3 * P + 1] = 1; u8[5 * P] = 1;
      const written = scan(true);
      const after = scan(false);
      u.close();
      console.log(JSON.stringify({ before, written, after, features: u.features > 0n, via: u.via }));
    `);
    expect(r).toEqual({ before: [], written: [3 * PAGE, 5 * PAGE], after: [], features: true, via: expect.stringMatching(/^(syscall|device)$/) });
  });
});
