/**
 * VirtualFree(MEM_RELEASE) while Node's thread pool writes into a viewMemory() buffer (issue 9,
 * case 2): no crash, and the late write never lands in memory mapped later at that address. In a
 * child process (the old failure mode is SIGSEGV); the child is test/native/native-writer.mjs.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describeKernel } from './support/kernel.js';

const root = join(import.meta.dirname, '..');

function runWriter(api: 'win32', op: 'fifo' | 'randomFill'): any {
  const r = spawnSync(process.execPath, ['--expose-gc', join(root, 'test/native/native-writer.mjs'), api, op], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect({ signal: r.signal, status: r.status, stderr: r.stderr }).toEqual({ signal: null, status: 0, stderr: '' });
  return JSON.parse(r.stdout);
}

describeKernel('win32: MEM_RELEASE while Node\'s thread pool writes into a view', () => {
  it('fs.read blocked on a FIFO writes after MEM_RELEASE: into a placeholder, never into a newcomer', () => {
    const r = runWriter('win32', 'fifo');
    expect(r.claimBeforeData).toBe('EEXIST');
    expect(r.landedInNewcomer).toBeNull();
    expect(r.err).toBeNull();
    expect(r.claimAfterCollection).toBe('mapped');
  });

  it('crypto.randomFill of 256 MiB, MEM_RELEASE on the same tick: no crash, three rounds', () => {
    const r = runWriter('win32', 'randomFill');
    expect(r.results).toEqual([0, 1, 2].map(() => ({ err: null, claimWhileFilling: 'EEXIST', lengthAfter: 0 })));
  });
});
