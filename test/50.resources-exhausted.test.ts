/**
 * Exhausted resources are errors of their own, never "unsupported": a process whose fd table is
 * full gets EMFILE as a SystemCallError (win32: last error 8, ERROR_NOT_ENOUGH_MEMORY), probe()
 * names it, and the same calls work once descriptors are free. The child runs under a low
 * `ulimit -n` and fills its table itself, so nothing depends on how many fds Node starts with.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { CHILD_TIMEOUT } from './support/machine.js';
import { SystemCallError, explainResourceError, isResourceError } from '../src/errors.js';
import { describeKernel } from './support/kernel.js';

const script = fileURLToPath(new URL('./native/exhausted.mjs', import.meta.url));

describeKernel('50 exhausted resources: EMFILE, ENFILE, ENOMEM are system errors, not ERR_WRITEWATCH_UNSUPPORTED', () => {
  it('a full fd table: allocate/track throw EMFILE, probe names it, virtualAlloc fails with 8, then all work again', () => {
    const r = spawnSync('sh', ['-c', `ulimit -n 256 && exec "${process.execPath}" "${script}"`], { encoding: 'utf8', timeout: CHILD_TIMEOUT });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    // Nothing open yet: /proc/self/pagemap is the descriptor that cannot be had.
    expect(out.allocateNoPagemap).toMatchObject({ ok: false, name: 'SystemCallError', code: 'EMFILE', syscall: 'open' });
    // Pagemap open, the userfaultfd is the one refused.
    expect(out.allocateNoUffd).toMatchObject({ ok: false, name: 'SystemCallError', code: 'EMFILE', syscall: 'userfaultfd' });
    // track() reads /proc/self/maps first: Node's own system error then, with the same code.
    expect(out.track).toMatchObject({ ok: false, code: 'EMFILE' });
    expect(['SystemCallError', 'Error']).toContain(out.track.name);
    for (const k of ['allocateNoPagemap', 'allocateNoUffd', 'track']) {
      expect(out[k].message).not.toMatch(/chmod|unavailable|unsupported/i);
    }
    // Windows' answer for exhausted resources; 50 would read as "write watch unsupported" for good.
    expect(out.virtualAlloc).toEqual({ base: '0', lastError: 8 });
    expect(out.virtualAllocNoUffd).toEqual({ base: '0', lastError: 8 });
    expect(out.probe.supported).toBe(false);
    expect(out.probe.reasons.join('\n')).toMatch(/EMFILE.*RLIMIT_NOFILE/);
    expect(out.probe.reasons.join('\n')).not.toMatch(/chmod/);
    // Not for good: with descriptors free, the same process tracks writes again.
    expect(out.allocateAfter).toEqual({ ok: true, value: JSON.stringify([out.probe.pageSize]) });
    expect(out.probeAfter).toBe(true);
  });

  it('ENFILE and ENOMEM are classified like EMFILE, other errnos are not (decoding only)', () => {
    for (const [errno, code] of [[24, 'EMFILE'], [23, 'ENFILE'], [12, 'ENOMEM']] as const) {
      const e = new SystemCallError('userfaultfd', errno);
      expect(e.code).toBe(code);
      expect(isResourceError(e)).toBe(true);
      expect(explainResourceError(e)).toContain(code);
    }
    // Negative controls: a denied or missing feature stays a support question.
    for (const errno of [1, 13, 38]) expect(isResourceError(new SystemCallError('userfaultfd', errno))).toBe(false);
  });
});
