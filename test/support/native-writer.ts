/**
 * Runs test/native/native-writer.mjs: a child that closes (or MEM_RELEASEs) memory while Node's
 * thread pool still writes into it, and reports what happened as JSON. A child, because the old
 * failure mode is SIGSEGV.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { CHILD_TIMEOUT } from './machine.js';

const root = join(import.meta.dirname, '..', '..');

export function runWriter(api: 'ww' | 'win32', op: 'fifo' | 'randomFill'): any {
  const r = spawnSync(process.execPath, ['--expose-gc', join(root, 'test/native/native-writer.mjs'), api, op], {
    cwd: root,
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT,
  });
  expect({ signal: r.signal, status: r.status, stderr: r.stderr }).toEqual({ signal: null, status: 0, stderr: '' });
  return JSON.parse(r.stdout);
}
