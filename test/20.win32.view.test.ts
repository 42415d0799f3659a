/**
 * viewMemory: JS access to live allocations only. Touching a view after MEM_RELEASE must not crash
 * the process, which only a child process can show; the child imports the package by name
 * (`writewatch/win32` → dist), so the build must have run (npm test does it first).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import * as w from '../src/win32/index.js';
import { describeKernel, PAGE } from './support/kernel.js';
import { CHILD_TIMEOUT } from './support/machine.js';

const P = BigInt(PAGE);
const root = fileURLToPath(new URL('..', import.meta.url));
const live: bigint[] = [];

afterEach(() => {
  for (const b of live.splice(0)) w.virtualFree(b, 0, w.MEM_RELEASE);
});

function alloc(pages: number, type = w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH): bigint {
  const b = w.virtualAlloc(0n, pages * PAGE, type, w.PAGE_READWRITE);
  expect(b).not.toBe(0n);
  live.push(b);
  return b;
}

/** Runs an ESM script in a child node from the package root; returns its status, signal and output. */
function child(script: string) {
  expect(existsSync(`${root}/dist/win32/index.js`), 'build first: npx tsc -p .').toBe(true);
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: CHILD_TIMEOUT });
  return { status: r.status, signal: r.signal, stdout: r.stdout.trim(), stderr: r.stderr };
}

describeKernel('win32: viewMemory', () => {
  it('views any range inside one live allocation, at any byte offset', () => {
    const b = alloc(4);
    const ab = w.viewMemory(b + 10n, 3 * PAGE);
    expect(ab.byteLength).toBe(3 * PAGE);
    new Uint8Array(ab)[PAGE - 10] = 0x77;
    expect(new Uint8Array(w.viewMemory(b + P, 1))[0]).toBe(0x77);
    expect(w.viewMemory(b + 4n * P - 1n, 1).byteLength).toBe(1);
    expect(w.viewMemory(b, 0).byteLength).toBe(0);
  });

  it('throws ERR_OUT_OF_RANGE outside one live allocation', () => {
    const b = alloc(4);
    const out = expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' });
    expect(() => w.viewMemory(b, 4 * PAGE + 1)).toThrow(out);
    expect(() => w.viewMemory(b + 4n * P, 1)).toThrow(out);
    expect(() => w.viewMemory(b - 1n, 2)).toThrow(out);
    expect(() => w.viewMemory(0n, 1)).toThrow(out);
    expect(() => w.viewMemory(0xffff_ffff_ffff_0000n, 1)).toThrow(out);
    expect(() => w.viewMemory(b, -1)).toThrow(out);
    expect(w.virtualFree(b, 0, w.MEM_RELEASE)).toBe(true);
    live.length = 0;
    expect(() => w.viewMemory(b, 1)).toThrow(out);
  });

  it('MEM_RELEASE detaches the views it handed out', () => {
    const b = alloc(2);
    const ab = w.viewMemory(b, 2 * PAGE);
    const u8 = new Uint8Array(ab);
    u8[0] = 1;
    expect(w.virtualFree(b, 0, w.MEM_RELEASE)).toBe(true);
    live.length = 0;
    expect(ab.byteLength).toBe(0);
    expect(u8[0]).toBeUndefined();
  });

  it('touching a view after MEM_RELEASE does not crash the process (child process)', () => {
    const r = child(`
      import * as w from 'writewatch/win32';
      const size = 16 * ${PAGE};
      const b = w.virtualAlloc(0n, size, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
      const ab = w.viewMemory(b, size), u8 = new Uint8Array(ab), dv = new DataView(w.viewMemory(b + 8n, 8));
      u8[100] = 1;
      if (!w.virtualFree(b, 0, w.MEM_RELEASE)) throw new Error('VirtualFree ' + w.getLastError());
      u8[100] = 2; // element stores on a detached buffer are silently dropped
      const threw = [() => u8.fill(3), () => dv.setUint32(0, 1), () => new Uint8Array(ab, 0, 1)].map((f) => {
        try { f(); return false; } catch (e) { return e instanceof TypeError; }
      });
      console.log(JSON.stringify({ len: ab.byteLength, read: u8[100] ?? null, threw }));
    `);
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ len: 0, read: null, threw: [true, true, true] });
  });

  it('touching a reserved-only page faults, as on Windows (child process)', () => {
    const r = child(`
      import * as w from 'writewatch/win32';
      const b = w.virtualAlloc(0n, 4 * ${PAGE}, w.MEM_RESERVE | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
      const u8 = new Uint8Array(w.viewMemory(b, 4 * ${PAGE}));
      console.log('before');
      u8[5] = 1;
      console.log('after');
    `);
    expect(r.stdout).toBe('before');
    expect(r.signal).toBe('SIGSEGV');
  });
});
