/**
 * The compare mechanism where write-protect is missing, for real: node runs under the seccomp-BPF
 * filters (and masked /proc) of test/native/sandbox-exec.c, as in test/50.sandbox.test.ts. In
 * each, probe() says 'auto' picks compare and why, allocate/track with mechanism 'auto' work and
 * report exactly the changed pages, the default allocate() still throws ERR_WRITEWATCH_UNSUPPORTED,
 * and writewatch/win32 still fails with ERROR_NOT_SUPPORTED. Needs only a C compiler: it holds on
 * a kernel without the write-protect features too (6.1). Needs dist (npm test builds first).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { probe } from '../src/index.js';
import { describe, expect, it } from 'vitest';
import { CHILD_TIMEOUT } from './support/machine.js';
import { cc, compile } from './native/build.js';
import { CI, kernel } from './support/kernel.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const report = fileURLToPath(new URL('./native/sandbox-compare.mjs', import.meta.url));
const ERROR_NOT_SUPPORTED = 50;
const SETUP_FAILED = 3;

interface Exercise {
  mechanism?: string;
  pages?: number[];
  after?: number[];
  again?: number[];
  code?: string;
  message?: string;
}
interface Report {
  probe: { supported: boolean; reasons: string[]; auto: { mechanism: string; reason: string } };
  defaultAllocate: Exercise;
  autoAllocate: Exercise;
  compareAllocate: Exercise;
  autoTrack: Exercise;
  emptyGrows: { before: number[]; after: number[]; again: number[] };
  win32: { base: string; lastError: number };
}

function run(opts: string[]): Report | null {
  const launcher = compile('sandbox-exec');
  const r = spawnSync(launcher, [...opts, '--', process.execPath, report], { cwd: root, encoding: 'utf8', timeout: CHILD_TIMEOUT });
  if (r.status === SETUP_FAILED && !CI) return null; // cannot build this sandbox here: nothing to check
  expect(r.stderr, String(r.stderr)).not.toMatch(/Error|sandbox-exec/);
  expect(r.status).toBe(0);
  return JSON.parse(String(r.stdout)) as Report;
}

/** This machine's page size, as the sandboxed child's probe() may not be able to read it. */
const pageSize = () => probe().pageSize;

/** Page 1 changed, page 3 stored with its own value: compare reports page 1 only, then its next change. */
const CHANGED = { mechanism: 'compare', pages: [1], after: [], again: [1] };

function expectCompareChosen(rep: Report | null): void {
  if (!rep) return;
  expect(rep.probe.supported).toBe(false);
  expect(rep.probe.auto.mechanism).toBe('compare');
  // The reason names what write-protect lacks: probe's own reasons.
  for (const reason of rep.probe.reasons) expect(rep.probe.auto.reason).toContain(reason);
  expect(rep.defaultAllocate.code).toBe('ERR_WRITEWATCH_UNSUPPORTED');
  expect(rep.probe.reasons).toContain(rep.defaultAllocate.message);
  expect(rep.autoAllocate).toEqual(CHANGED);
  expect(rep.compareAllocate).toEqual(CHANGED);
  expect(rep.autoTrack).toEqual(CHANGED);
  expect(rep.emptyGrows).toEqual({ before: [], after: [3 * pageSize()], again: [] });
  expect(rep.win32).toEqual({ base: '0', lastError: ERROR_NOT_SUPPORTED });
}

const suite = cc || CI ? describe : describe.skip;

suite("50 sandbox [compare]: where userfaultfd or PAGEMAP_SCAN is blocked, 'auto' chooses compare and works", () => {
  it('has a C compiler', () => {
    expect(cc, 'no C compiler: install gcc or clang').not.toBeNull();
  });

  it("blocking nothing (control): 'auto' is write-protect exactly where probe() says supported", () => {
    const rep = run([]);
    if (!rep) return;
    expect(rep.probe.supported).toBe(kernel.supported);
    expect(rep.probe.auto.mechanism).toBe(kernel.supported ? 'write-protect' : 'compare');
    expect(rep.autoAllocate.mechanism).toBe(rep.probe.auto.mechanism);
    // Write-protect reports the identical store to page 3 as well: written pages, not changed ones.
    expect(rep.autoAllocate.pages).toEqual(kernel.supported ? [1, 3] : [1]);
    expect(rep.compareAllocate).toEqual(CHANGED);
  });

  it('userfaultfd(2) → ENOSYS and USERFAULTFD_IOC_NEW → EPERM (a container default profile)', () => {
    expectCompareChosen(run(['--userfaultfd=ENOSYS', '--uffd-dev=EPERM']));
  });

  it('userfaultfd(2) → EPERM and USERFAULTFD_IOC_NEW → EPERM', () => {
    expectCompareChosen(run(['--userfaultfd=EPERM', '--uffd-dev=EPERM']));
  });

  it('PAGEMAP_SCAN → ENOTTY (as on a kernel before 6.7)', () => {
    expectCompareChosen(run(['--pagemap-scan=ENOTTY']));
  });

  it('/proc/self/pagemap masked', () => {
    expectCompareChosen(run(['--mask-pagemap']));
  });

  it('no procfs at /proc', () => {
    expectCompareChosen(run(['--no-proc']));
  });
});
