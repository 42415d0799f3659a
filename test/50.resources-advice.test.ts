/**
 * Errors that advise (issue 21): a resource error says which resource ran out, how much of it
 * there is, and what to do — for a full fd table (EMFILE), a full tracker registry, and an
 * `allocate` the kernel cannot map (ENOMEM). Each case is produced for real in a child process
 * under its own limit (`ulimit -n`, `ulimit -v`, 16,384 live trackers), so nothing depends on the
 * machine's own limits or on how many descriptors Node starts with.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { SystemCallError, allocateFailed, explainResourceError, resourceAdvice } from '../src/errors.js';
import { describeKernel } from './support/kernel.js';
import { CHILD_TIMEOUT } from './support/machine.js';

const root = join(import.meta.dirname, '..');

/** Runs an ES module under `sh -c "<limits> && exec node"` from the repository root; its JSON stdout. */
function child(limits: string, code: string): Record<string, { code: string; message: string } | boolean | number> {
  const r = spawnSync('sh', ['-c', `${limits} && exec "${process.execPath}" --input-type=module -e "$0"`, code], { cwd: root, encoding: 'utf8', timeout: CHILD_TIMEOUT });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}
const caught = `const caught = (f) => { try { f(); return { code: 'none', message: '' }; } catch (e) { return { code: e.code, message: e.message }; } };`;

describeKernel('50 errors that advise: which resource, how many, what to do', () => {
  it('a full fd table (EMFILE): the limit in numbers, close() or `using`, and how to raise it', () => {
    const out = child('ulimit -n 200', `
      import { openSync } from 'node:fs';
      import { WriteWatch, probe } from 'writewatch';
      ${caught}
      WriteWatch.allocate(1).close(); // everything the library loads once is loaded
      const held = [];
      try { for (;;) held.push(openSync('/dev/null', 'r')); } catch {}
      const allocate = caught(() => WriteWatch.allocate(1));
      const reasons = probe().reasons.join(' ');
      console.log(JSON.stringify({ allocate, probe: { code: 'EMFILE', message: reasons } }));`);
    const { allocate, probe } = out as Record<string, { code: string; message: string }>;
    expect(allocate.code).toBe('EMFILE');
    for (const m of [allocate.message, probe.message]) {
      expect(m).toMatch(/all 200 file descriptors its limit allows \(RLIMIT_NOFILE: soft 200, hard 200\)/);
      expect(m).toMatch(/close\(\) the trackers you are done with \(a `using` declaration/);
      expect(m).toMatch(/ulimit -n/);
    }
  });

  it('a full registry: how many live trackers one process may have, and close() or `using`; closing one frees a slot', () => {
    const out = child('true', `
      import { WriteWatch } from 'writewatch';
      ${caught}
      const live = [];
      let err;
      for (let i = 0; i < 20000 && !err; i++) {
        try { live.push(WriteWatch.allocate(1, { mechanism: 'compare' })); } catch (e) { err = { code: e.code, message: e.message }; }
      }
      live.pop().close();
      const again = caught(() => live.push(WriteWatch.allocate(1, { mechanism: 'compare' })));
      console.log(JSON.stringify({ err, live: live.length, again }));`);
    const err = out.err as { code: string; message: string };
    expect(err.code).toBe('ENOMEM');
    expect(err.message).toMatch(/more than 16384 live trackers/);
    expect(err.message).toMatch(/as many live trackers as one process can .*: close\(\) those you are done with \(a `using` declaration/);
    expect(err.message).not.toMatch(/kernel refused memory/); // not the generic ENOMEM advice
    expect(out.again).toEqual({ code: 'none', message: '' }); // the advice works
    expect(out.live).toBe(16384);
  });

  it("allocate beyond what the kernel will map: allocateFailed says allocate maps it all at once, the limit, and what to do", () => {
    // 2 GiB of address space: Node starts, a 4 GiB allocate cannot be mapped.
    const out = child('ulimit -v 2097152', `
      import { WriteWatch } from 'writewatch';
      import { allocateFailed } from './dist/errors.js';
      const n = 2 ** 32 - 65536;
      let raw;
      try { WriteWatch.allocate(n); } catch (e) { raw = e; }
      const advised = allocateFailed(raw, n);
      console.log(JSON.stringify({ raw: { code: raw.code, message: raw.message }, advised: { code: advised.code, message: advised.message, syscall: advised.syscall } }));`);
    const raw = out.raw as { code: string; message: string }, advised = out.advised as { code: string; message: string; syscall: string };
    expect(raw.code).toBe('ENOMEM');
    // allocate() itself throws the advised error (allocateFailed is wired at its call site).
    expect(raw.message).toMatch(/^mmap failed: ENOMEM \(4294901760 bytes\): WriteWatch\.allocate maps all 4\.0 GiB at once, and the kernel refused \(.*address space limited to 2\.0 GiB \(ulimit -v\)\)\. Allocate less, or raise the address-space limit/);
    expect(advised).toMatchObject({ code: 'ENOMEM', syscall: 'mmap' });
    expect(advised.message).toMatch(/^mmap failed: ENOMEM \(4294901760 bytes\): WriteWatch\.allocate maps all 4\.0 GiB at once, and the kernel refused \(.*address space limited to 2\.0 GiB \(ulimit -v\)\)\. Allocate less, or raise the address-space limit/);
  });

  // This process's own RLIMIT_AS (the case above sets one in a child): with one, the advice is the one above.
  const asLimited = ((l) => typeof (l.virtual_memory_bytes ?? l.virtual_memory_kbytes)?.soft === 'number')(
    (process.report.getReport() as { userLimits: Record<string, { soft: unknown } | undefined> }).userLimits,
  );
  it.skipIf(asLimited)('without an address-space limit, allocateFailed points at WriteWatch.track of memory that commits as it grows', () => {
    // The errno is the kernel's number for ENOMEM; the facts are read from this machine's /proc.
    const e = allocateFailed(new SystemCallError('mmap', 12, `${64 * 2 ** 30} bytes`), 64 * 2 ** 30) as SystemCallError;
    expect(e.message).toMatch(/^mmap failed: ENOMEM \(68719476736 bytes\): WriteWatch\.allocate maps all 64\.0 GiB as committed memory at once, and the kernel refused \(\d+\.\d (G|M)iB available.*\)\. Allocate less, or track memory/);
    expect(e.message).toMatch(/a WebAssembly\.Memory, or a resizable ArrayBuffer \(new ArrayBuffer\(length, \{ maxByteLength \}\)\), passed to WriteWatch\.track$/);
  });

  it('negative controls: errnos that are not resources get no advice, and allocateFailed leaves other errors alone', () => {
    for (const errno of [1, 13, 22, 38]) {
      const e = new SystemCallError('userfaultfd', errno);
      expect(e.message).toBe(`userfaultfd failed: ${e.code}`);
      expect(resourceAdvice('userfaultfd', e.code)).toBeUndefined();
      expect(allocateFailed(e, 4096)).toBe(e);
    }
    const emfile = new SystemCallError('open', 24, '/proc/self/pagemap');
    expect(allocateFailed(emfile, 4096)).toBe(emfile); // EMFILE's own advice stands
    expect(explainResourceError(emfile)).toMatch(/^open failed with EMFILE: this process has all .* file descriptors/);
    const type = new TypeError('x');
    expect(allocateFailed(type, 4096)).toBe(type);
  });
});
