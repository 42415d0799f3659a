/**
 * Issue 19, the transfer/detach/resize class on tracked targets: a resizable buffer shrunk to a
 * length that is not a page multiple, and user code that resizes, grows or detaches the target in
 * the middle of a call (from an options getter). Answers stay inside `byteLength`; a range checked
 * against the old length is never used against the new one; a detached target is LOST, never a
 * crash or "nothing written".
 */
import { expect, it } from 'vitest';
import { runChild } from './support/child-json.js';
import { describeKernel, PAGE } from './support/kernel.js';

describeKernel('12 tracked targets that change mid-call (issue 19, weakness 6 and the resize class)', () => {
  for (const mechanism of ['write-protect', 'compare'] as const) {
    it(`${mechanism}: a resizable buffer shrunk to a non-page length: ranges() and get() stay inside byteLength`, () => {
      const r = runChild(`
        const { WriteWatch } = await import('writewatch');
        const P = (await import('writewatch')).probe().pageSize;
        const ab = new ArrayBuffer(4 * P, { maxByteLength: 64 * P });
        const ww = WriteWatch.track(ab, { mechanism: '${mechanism}' });
        new Uint8Array(ab)[3 * P] = 1;
        new Uint8Array(ab)[2 * P + 50] = 1;
        ab.resize(2 * P + 100);
        const ranges = ww.ranges();
        const views = code(() => ranges.map((x) => new Uint8Array(ab, x.offset, x.length).length));
        const get = ww.get();
        const out = { byteLength: ab.byteLength, ranges, views, get, tracked: ww.tracked };
        ww.close();
        console.log(JSON.stringify(out));
      `);
      expect(r.status, r.stderr).toBe(0);
      const o = r.out;
      for (const x of o.ranges) expect(x.offset + x.length).toBeLessThanOrEqual(o.byteLength);
      expect(o.views).toMatch(/^ok:/); // every range makes a view (it threw RangeError before)
      expect(o.ranges.length).toBeGreaterThan(0); // negative control: the write at 2 * P + 50 is there
      for (const off of o.get) expect(off).toBeLessThan(o.byteLength);
      expect(o.tracked.offset + o.tracked.length).toBeLessThanOrEqual(o.byteLength);
    });

    it(`${mechanism}: options getters that shrink, grow or detach the target mid-call`, () => {
      const r = runChild(`
        const { WriteWatch } = await import('writewatch');
        const P = (await import('writewatch')).probe().pageSize, out = {};
        // Shrink after the length was read: the check is against the length after the getter ran.
        {
          const ab = new ArrayBuffer(8 * P, { maxByteLength: 64 * P });
          const ww = WriteWatch.track(ab, { mechanism: '${mechanism}' });
          new Uint8Array(ab)[7 * P] = 1;
          out.shrink = code(() => ww.get({ offset: 0, get length() { ab.resize(P); return 8 * P; } }));
          out.shrinkRanges = code(() => ww.ranges({ get reset() { ab.resize(2 * P + 1); return false; } }));
          out.shrinkByteLength = ab.byteLength;
          ww.close();
        }
        // Grow mid-call: the grown page is followed.
        {
          const ab = new ArrayBuffer(2 * P, { maxByteLength: 64 * P });
          const ww = WriteWatch.track(ab, { mechanism: '${mechanism}' });
          out.grow = code(() => ww.get({ get reset() { ab.resize(8 * P); new Uint8Array(ab)[6 * P] = 1; return true; } }));
          out.growAfter = ww.get();
          ww.close();
        }
        // Detach the tracked buffer mid-call (transfer() on 22+, structuredClone elsewhere).
        {
          const ab = new ArrayBuffer(8 * P);
          const ww = WriteWatch.track(ab, { mechanism: '${mechanism}' });
          const detach = () => typeof ab.transfer === 'function' ? ab.transfer() : structuredClone(ab, { transfer: [ab] });
          out.detach = code(() => ww.get({ get reset() { detach(); return true; } }));
          out.detachClosed = code(() => { ww.close(); return ww.closed; });
        }
        // WebAssembly.Memory grown by a getter.
        {
          const mem = new WebAssembly.Memory({ initial: 1, maximum: 8 });
          const ww = WriteWatch.track(mem, { mechanism: '${mechanism}', maxByteLength: 8 * 65536 });
          out.wasm = code(() => ww.get({ get reset() { mem.grow(2); new Uint8Array(mem.buffer)[2 * 65536] = 1; return true; } }));
          out.wasmByteLength = ww.byteLength;
          ww.close();
        }
        console.log(JSON.stringify(out));
      `);
      expect(r.signal, r.stderr).toBe(null);
      expect(r.status, r.stderr).toBe(0);
      const o = r.out;
      expect(o.shrinkByteLength).toBe(2 * PAGE + 1); // negative control: the getters did resize
      expect(o.shrink).toBe('ERR_OUT_OF_RANGE');
      expect(o.shrinkRanges).toMatch(/^ok:/);
      for (const x of JSON.parse(o.shrinkRanges.slice(3))) expect(x.offset + x.length).toBeLessThanOrEqual(2 * PAGE + 1);
      expect(o.grow).toBe(`ok:[${6 * PAGE}]`);
      expect(o.growAfter).toEqual([]);
      expect(o.detach).toBe('ERR_WRITEWATCH_LOST');
      expect(o.detachClosed).toBe('ok:true');
      expect(o.wasm).toBe(`ok:[${2 * 65536}]`);
      expect(o.wasmByteLength).toBe(3 * 65536);
    });
  }
});
