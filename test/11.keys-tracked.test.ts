/**
 * Silent mistakes made loud: an unknown option key is ERR_INVALID_ARG_VALUE (a misspelt `lenght`
 * would otherwise be ignored and the answer could read as "clean"), and `.tracked` tells code
 * which bytes of the buffer are tracked (a plain buffer's partial first and last pages are not).
 */
import { expect, it } from 'vitest';
import { codeOf } from './support/errors.js';
import { WriteWatch } from '../src/index.js';
import { checkOptions } from '../src/writewatch/args.js';
import { describeKernel, PAGE } from './support/kernel.js';


it('checkOptions refuses unknown keys, inherited ones too, and names the key', () => {
  for (const bad of [{ lenght: 5 }, { offset: 0, rest: true }, { maxpages: 1 }, Object.create({ lenght: 5 })]) {
    expect(codeOf(() => checkOptions(bad, 1 << 20)), JSON.stringify(bad)).toBe('ERR_INVALID_ARG_VALUE');
  }
  expect(() => checkOptions({ lenght: 5 }, 1 << 20)).toThrow(/options\.lenght.*offset, length, maxPages and reset/);
  // The known keys, and an object with none, still pass.
  expect(checkOptions({ offset: 0, length: 4096, maxPages: 1, reset: false }, 1 << 20)).toEqual({ offset: 0, length: 4096, maxPages: 1, reset: false });
  expect(checkOptions({}, 100)).toEqual({ offset: 0, length: 100, maxPages: 0, reset: false });
  // Negative control: undefined-valued known keys are the defaults, not errors.
  expect(codeOf(() => checkOptions({ offset: undefined, reset: undefined }, 100))).toBeUndefined();
});

describeKernel('11 unknown keys and .tracked', () => {
  it('get, getInto and ranges refuse an unknown key and reset nothing', () => {
    const ww = WriteWatch.allocate(8 * PAGE);
    try {
      new Uint8Array(ww.buffer)[3 * PAGE] = 1;
      const out = new Float64Array(8);
      expect(codeOf(() => ww.get({ lenght: 5, reset: true } as never))).toBe('ERR_INVALID_ARG_VALUE');
      expect(codeOf(() => ww.getInto(out, { rest: true } as never))).toBe('ERR_INVALID_ARG_VALUE');
      expect(codeOf(() => ww.ranges({ maxpages: 1 } as never))).toBe('ERR_INVALID_ARG_VALUE');
      expect(ww.get()).toEqual([3 * PAGE]); // still written: the refused calls reset nothing
    } finally {
      ww.close();
    }
  });

  it('.tracked is the whole buffer for allocate, and throws after close', () => {
    const ww = WriteWatch.allocate(3 * PAGE + 1);
    expect(ww.tracked).toEqual({ offset: 0, length: 4 * PAGE });
    ww.close();
    expect(codeOf(() => ww.tracked)).toBe('ERR_WRITEWATCH_CLOSED');
  });

  it('.tracked of a plain ArrayBuffer is its whole pages, and a write outside it is not reported', () => {
    const buffer = new ArrayBuffer(3 * PAGE);
    const ww = WriteWatch.track(buffer);
    try {
      const { offset, length } = ww.tracked;
      const address = Number(ww.address);
      expect((address + offset) % PAGE).toBe(0);
      expect(length % PAGE).toBe(0);
      expect(offset).toBeGreaterThanOrEqual(0);
      expect(offset + length).toBeLessThanOrEqual(buffer.byteLength);
      // The tracked pages are exactly those wholly inside the buffer.
      const first = Math.ceil(address / PAGE) * PAGE - address;
      const last = Math.floor((address + buffer.byteLength) / PAGE) * PAGE - address;
      expect({ offset, length }).toEqual({ offset: first, length: last - first });
      const bytes = new Uint8Array(buffer);
      bytes[offset] = 1; // inside: reported
      if (offset > 0) bytes[offset - 1] = 1; // the partial first page: not tracked
      expect(ww.get()).toEqual([offset]);
    } finally {
      ww.close();
    }
  });

  it('.tracked of a view is inside the view; of a WebAssembly.Memory it follows a grow', () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 8 });
    const viewed = WriteWatch.track(new Uint8Array(memory.buffer, PAGE + 1, 4 * PAGE));
    try {
      expect(viewed.tracked).toEqual({ offset: 2 * PAGE, length: 3 * PAGE });
    } finally {
      viewed.close();
    }
    const ww = WriteWatch.track(memory, { maxByteLength: 8 * 65536 });
    try {
      expect(ww.tracked).toEqual({ offset: 0, length: 2 * 65536 });
      memory.grow(3);
      expect(ww.tracked).toEqual({ offset: 0, length: 5 * 65536 });
    } finally {
      ww.close();
    }
  });
});
