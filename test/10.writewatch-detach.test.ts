/**
 * Detaching through the runtime's public API (issue 10, Node matrix): where
 * ArrayBuffer.prototype.transfer exists (Node 22, 24, 26), close() detaches with transfer(0) and
 * never switches V8 flags at run time; only Node 20, which has no public way for an external
 * buffer, compiles %ArrayBufferDetach with --allow-natives-syntax switched on for that one compile.
 * In a child, so that the first detach of the process is the one observed.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { CHILD_TIMEOUT } from './support/machine.js';
import { describeKernel } from './support/kernel.js';

const root = join(import.meta.dirname, '..');
const hasTransfer = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';

describeKernel('10 WriteWatch: how close() detaches, per Node version', () => {
  it(`Node ${process.versions.node}: ${hasTransfer ? 'transfer(0), no V8 flag switched' : 'natives syntax (no public API on this Node)'}`, () => {
    const source = `
      import v8 from 'node:v8';
      import koffi from 'koffi';
      const flags = [];
      const set = v8.setFlagsFromString;
      v8.setFlagsFromString = (f) => { flags.push(f); return set.call(v8, f); };
      const { WriteWatch } = await import('writewatch');
      const ww = WriteWatch.allocate(65536);
      const ab = ww.buffer;
      const u8 = new Uint8Array(ab);
      u8[0] = 1;
      ww.close();
      // What a full-length transfer() would do to such a buffer: the same memory under a new name.
      let aliases = null;
      if (typeof ArrayBuffer.prototype.transfer === 'function') {
        const lib = koffi.load('libc.so.6');
        const p = lib.func('void *malloc(size_t)')(65536);
        const ext = koffi.view(p, 65536);
        aliases = koffi.address(ext.transfer()) === koffi.address(p);
      }
      console.log(JSON.stringify({ flags, abLength: ab.byteLength, u8Length: u8.length, aliases }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', source], { cwd: root, encoding: 'utf8', timeout: CHILD_TIMEOUT });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect([out.abLength, out.u8Length]).toEqual([0, 0]); // detached either way
    if (hasTransfer) {
      expect(out.flags).toEqual([]);
      expect(out.aliases).toBe(true); // why transfer(0) and not transfer(): the memory would live on
    } else {
      expect(out.flags).toEqual(['--allow-natives-syntax', '--no-allow-natives-syntax']);
    }
  });
});
