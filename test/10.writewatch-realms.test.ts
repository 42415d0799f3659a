/**
 * One cross-realm rule (issue 9, case 9): every argument is recognised by its brand, not by this
 * realm's constructor, so a node:vm Float64Array is a Float64Array to getInto (it was refused
 * while track() accepted a vm Uint8Array). track()'s targets: test/60.track-edges.test.ts.
 */
import vm from 'node:vm';
import { expect, it } from 'vitest';
import { WriteWatch } from '../src/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

describeKernel('10 WriteWatch: arguments from another realm', () => {
  it('getInto accepts a node:vm Float64Array and fills it', () => {
    using ww = WriteWatch.allocate(8 * PAGE);
    new Uint8Array(ww.buffer)[3 * PAGE] = 1;
    const out = vm.runInNewContext('new Float64Array(8)') as Float64Array;
    expect(ww.getInto(out, { reset: true })).toBe(1);
    expect(out[0]).toBe(3 * PAGE);
    expect(ww.get()).toEqual([]);
  });

  it('what is not a Float64Array in any realm is still ERR_INVALID_ARG_TYPE', () => {
    using ww = WriteWatch.allocate(PAGE);
    for (const out of [vm.runInNewContext('new Float32Array(8)'), vm.runInNewContext('[0, 0]'), new Float32Array(8)]) {
      let code: string | undefined;
      try {
        ww.getInto(out as Float64Array);
      } catch (e) {
        code = (e as { code?: string }).code;
      }
      expect(code).toBe('ERR_INVALID_ARG_TYPE');
    }
  });
});
