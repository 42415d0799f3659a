/**
 * Issue 19, items 4-7: user code that runs in the middle of a call (getters of the options object,
 * a tracked WebAssembly.Memory's own `buffer` accessor) and objects that lie about themselves
 * (subclass `length` getters, own `byteLength` properties) cannot make a call act on a closed or
 * re-tracked WriteWatch, lose a reset page, or register memory outside its target.
 *
 * Each case runs in a child (before the fix, case 4 under compare was a SIGSEGV); each asserts
 * that the user code actually ran (or that the lie is visible through the property), so the check
 * cannot pass because the trap was never sprung.
 */
import { expect, it } from 'vitest';
import { runChild } from './support/child-json.js';
import { describeKernel, PAGE } from './support/kernel.js';

const MECHANISMS = ['write-protect', 'compare'] as const;

describeKernel('12 re-entrant user code: a getter that closes the WriteWatch mid-call (issue 19, item 4)', () => {
  for (const mechanism of MECHANISMS) {
    it(`${mechanism}: get/getInto/ranges/reset whose options close the WriteWatch throw ERR_WRITEWATCH_CLOSED, never crash or LOST`, () => {
      const r = runChild(`
        const { WriteWatch } = await import('writewatch');
        const P = (await import('writewatch')).probe().pageSize, out = {};
        const calls = { get: (w, o) => w.get(o), getInto: (w, o) => w.getInto(new Float64Array(4), o), ranges: (w, o) => w.ranges(o) };
        for (const [name, call] of Object.entries(calls)) {
          for (const key of ['reset', 'offset', 'length', 'maxPages']) {
            const ww = WriteWatch.allocate(4 * P, { mechanism: '${mechanism}' });
            new Uint8Array(ww.buffer)[P] = 1;
            let ran = 0;
            const value = { reset: true, offset: 0, length: 4 * P, maxPages: 4 }[key];
            const opts = { get [key]() { ran++; ww.close(); return value; } };
            out[name + '.' + key] = [code(() => call(ww, opts)), ran, ww.closed];
          }
        }
        // reset(offset, length): numbers only; an object is refused before any valueOf can run.
        const ww = WriteWatch.allocate(4 * P, { mechanism: '${mechanism}' });
        let ran = 0;
        out['reset.valueOf'] = [code(() => ww.reset({ valueOf() { ran++; ww.close(); return 0; } })), ran, ww.closed];
        ww.close();
        console.log(JSON.stringify(out));
      `);
      expect(r.signal, r.stderr).toBe(null);
      expect(r.status, r.stderr).toBe(0);
      for (const [k, v] of Object.entries(r.out as Record<string, [string, number, boolean]>)) {
        if (k === 'reset.valueOf') {
          expect(v, k).toEqual(['ERR_INVALID_ARG_TYPE', 0, false]);
          continue;
        }
        // Negative control: the getter ran once and did close it.
        expect(v, k).toEqual(['ERR_WRITEWATCH_CLOSED', 1, true]);
      }
    });
  }

  it("a tracked WebAssembly.Memory whose own `buffer` accessor closes the WriteWatch: the library never runs it", () => {
    const r = runChild(`
      const { WriteWatch } = await import('writewatch');
      const mem = new WebAssembly.Memory({ initial: 2 });
      const real = mem.buffer;
      let ran = 0, ww;
      Object.defineProperty(mem, 'buffer', { get() { ran++; ww?.close(); return real; } });
      ww = WriteWatch.track(mem, { maxByteLength: 4 * 65536 });
      new Uint8Array(real)[65536 + 5] = 1;
      mem.grow(1); // a new buffer object: the next call follows it
      new Uint8Array(WebAssembly.Memory.prototype.__lookupGetter__('buffer').call(mem))[2 * 65536] = 1;
      const got = ww.get({ reset: true });
      const ranges = ww.ranges();
      const closedBefore = ww.closed;
      void mem.buffer; // the accessor works: it would have closed it (negative control)
      console.log(JSON.stringify({ got, ranges, ran, closedBefore, closedAfter: ww.closed, byteLength: ww.byteLength }));
    `);
    expect(r.status, r.stderr).toBe(0);
    expect(r.out.ran).toBe(1); // only our own read at the end
    expect(r.out.closedBefore).toBe(false);
    expect(r.out.closedAfter).toBe(true);
    expect(r.out.got).toEqual([65536, 2 * 65536]);
    expect(r.out.ranges).toEqual([]);
    expect(r.out.byteLength).toBe(3 * 65536);
  });
});

describeKernel('12 re-entrant user code: close and track again mid-call (issue 19, item 5)', () => {
  for (const mechanism of MECHANISMS) {
    it(`${mechanism}: the closed object's get({ reset }) neither returns nor re-arms the new tracker's page`, () => {
      const r = runChild(`
        const { WriteWatch } = await import('writewatch');
        const P = (await import('writewatch')).probe().pageSize;
        // Resizable: page-aligned, so no neighbour's write shares a page with it (a plain buffer's
        // edge pages may be reported for them).
        const ab = new ArrayBuffer(16 * P, { maxByteLength: 16 * P });
        const ww = WriteWatch.track(ab, { mechanism: '${mechanism}' });
        let ww2, ran = 0;
        const first = code(() => ww.get({ get reset() {
          ran++;
          ww.close();
          ww2 = WriteWatch.track(ab, { mechanism: '${mechanism}' });
          new Uint8Array(ab)[8 * P] = 1;
          return true;
        } }));
        const second = ww2.get();
        ww2.close();
        console.log(JSON.stringify({ first, ran, second, P }));
      `);
      expect(r.status, r.stderr).toBe(0);
      expect(r.out.ran).toBe(1);
      expect(r.out.first).toBe('ERR_WRITEWATCH_CLOSED');
      // The write belongs to ww2 and is still there: one page, the one holding byte 8 * P.
      expect(r.out.second.length).toBe(1);
      const o = r.out.second[0];
      expect(o <= 8 * r.out.P && 8 * r.out.P < o + r.out.P).toBe(true);
    });
  }
});

describeKernel('12 lying typed arrays and views (issue 19, items 6 and 7)', () => {
  it('getInto into a Float64Array subclass whose `length` says 8: fills and resets only the 2 real slots', () => {
    const r = runChild(`
      const { WriteWatch } = await import('writewatch');
      const P = (await import('writewatch')).probe().pageSize;
      class L extends Float64Array { get length() { return 8; } }
      const out = {};
      for (const mechanism of ['write-protect', 'compare']) {
        const ww = WriteWatch.allocate(8 * P, { mechanism });
        const u = new Uint8Array(ww.buffer);
        for (let i = 0; i < 8; i++) u[i * P] = 1;
        const arr = new L(2);
        const n = ww.getInto(arr, { reset: true });
        out[mechanism] = { lie: arr.length, n, filled: [...Float64Array.prototype.values.call(arr)], left: ww.get() };
        ww.close();
      }
      console.log(JSON.stringify(out));
    `);
    expect(r.status, r.stderr).toBe(0);
    for (const m of ['write-protect', 'compare']) {
      const P = PAGE;
      expect(r.out[m].lie).toBe(8); // negative control: the subclass does lie
      expect(r.out[m].n).toBe(2);
      expect(r.out[m].filled).toEqual([0, P]);
      // The six pages not returned are still reported: none was reset unreported.
      expect(r.out[m].left).toEqual([2, 3, 4, 5, 6, 7].map((i) => i * P));
    }
  });

  it('views whose own byteLength / byteOffset / buffer lie: track() registers only the real bytes', () => {
    const r = runChild(`
      const { WriteWatch, pagemap } = await import('writewatch');
      const q = pagemap.PagemapQuery.open('self', { required: pagemap.PAGE_IS.WPALLOWED, returnMask: 0 });
      // Every page registered for write-protect in the process, wherever it is (the oracle).
      const registered = () => pagemap.readMaps('self').reduce((n, m) => Number.isFinite(m.end) ? n + q.count(m.start, m.end) : n, 0);
      const before = registered();
      const mem = new WebAssembly.Memory({ initial: 1 });
      const out = { before };
      const liars = {
        byteLength: (v) => Object.defineProperty(v, 'byteLength', { value: 10 * 2 ** 30 }),
        byteOffset: (v) => Object.defineProperty(v, 'byteOffset', { value: 2 ** 30 }),
        length: (v) => Object.defineProperty(v, 'length', { value: 10 * 2 ** 30 }),
        buffer: (v) => Object.defineProperty(v, 'buffer', { value: mem.buffer }),
        dataView: null,
        subclass: null,
      };
      for (const [name, lie] of Object.entries(liars)) {
        let view;
        if (name === 'dataView') {
          view = new DataView(new ArrayBuffer(65536));
          Object.defineProperty(view, 'byteLength', { value: 10 * 2 ** 30 });
        } else if (name === 'subclass') {
          class S extends Uint8Array { get byteLength() { return 10 * 2 ** 30; } get buffer() { return mem.buffer; } }
          view = new S(65536);
        } else {
          view = lie(new Uint8Array(65536));
        }
        const ww = WriteWatch.track(view);
        const pages = registered() - before;
        const memToo = code(() => { const w = WriteWatch.track(mem); w.close(); return true; });
        out[name] = { tracked: ww.tracked, pages, memToo, lie: (view.byteLength || 0) + (view.byteOffset || 0) + (view.length || 0) + (view.buffer === mem.buffer ? 2 ** 40 : 0) };
        ww.close();
      }
      console.log(JSON.stringify(out));
    `);
    expect(r.status, r.stderr).toBe(0);
    for (const name of ['byteLength', 'byteOffset', 'length', 'buffer', 'dataView', 'subclass']) {
      const o = r.out[name];
      expect(o.tracked, name).toEqual({ offset: 0, length: 65536 });
      // The view's pages (16 of 4 KiB, 4 of 16 KiB), at most one more on each side (an unaligned
      // malloc'd buffer).
      expect(o.pages, name).toBeGreaterThanOrEqual(65536 / PAGE);
      expect(o.pages, name).toBeLessThanOrEqual(65536 / PAGE + 2);
      expect(o.memToo, name).toBe('ok:true');
      expect(o.lie, name).toBeGreaterThan(2 * 65536); // negative control: the properties do lie (honest: 65536 + 65536)
    }
  });
});
