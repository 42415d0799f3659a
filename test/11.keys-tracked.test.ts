/**
 * Silent mistakes made loud: an unknown option key is ERR_INVALID_ARG_VALUE (a misspelt `lenght`
 * would otherwise be ignored and the answer could read as "clean"), and `.tracked` tells code
 * which bytes of the buffer are tracked (all of them, unless another tracker held a partial page).
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

  it('.tracked of a plain ArrayBuffer is every byte of it: its partial first and last pages are tracked too', () => {
    const buffer = new ArrayBuffer(3 * PAGE);
    const ww = WriteWatch.track(buffer);
    try {
      const address = Number(ww.address);
      expect(ww.tracked).toEqual({ offset: 0, length: buffer.byteLength });
      const bytes = new Uint8Array(buffer);
      const lastPage = Math.floor((address + buffer.byteLength - 1) / PAGE) * PAGE - address;
      ww.reset(); // what neighbours on the edge pages wrote before
      bytes[0] = 1; // the partial first page: reported at offset 0, clipped to the buffer
      bytes[buffer.byteLength - 1] = 1; // the last page
      expect(ww.get()).toEqual([...new Set([0, lastPage])]);
    } finally {
      ww.close();
    }
  });

  it('a partial page another tracker holds is left out: calls covering its bytes throw ERR_WRITEWATCH_UNTRACKED, never []', () => {
    // Two views of page-aligned memory that share the page holding byte 1.5 pages.
    const memory = new WebAssembly.Memory({ initial: 1 });
    const half = PAGE + PAGE / 2;
    const a = WriteWatch.track(new Uint8Array(memory.buffer, 0, half));
    const view = new Uint8Array(memory.buffer, half, 3 * PAGE - half);
    const b = WriteWatch.track(view);
    try {
      expect(a.tracked).toEqual({ offset: 0, length: half });
      expect(b.tracked).toEqual({ offset: 2 * PAGE, length: PAGE });
      new Uint8Array(memory.buffer)[half + 1] = 1; // a byte of b's that b cannot see (a's page)
      expect(codeOf(() => b.get())).toBe('ERR_WRITEWATCH_UNTRACKED');
      expect(codeOf(() => b.ranges({ offset: half, length: 10 }))).toBe('ERR_WRITEWATCH_UNTRACKED');
      expect(codeOf(() => b.reset(half, 1))).toBe('ERR_WRITEWATCH_UNTRACKED');
      expect(codeOf(() => b.getInto(new Float64Array(4)))).toBe('ERR_WRITEWATCH_UNTRACKED');
      expect(b.get({ offset: 2 * PAGE, length: PAGE })).toEqual([]); // inside .tracked: answered
      expect(a.get()).toEqual([PAGE]); // a saw it: the page is a's
      // Negative control: once a is closed, b tracked again covers every byte and answers.
      a.close();
      b.close();
      const whole = WriteWatch.track(view);
      expect(whole.tracked).toEqual({ offset: half, length: 3 * PAGE - half });
      new Uint8Array(memory.buffer)[half + 2] = 1;
      expect(whole.get()).toEqual([half]);
      whole.close();
    } finally {
      a.close();
      b.close();
    }
  });

  it('.tracked of a view is inside the view; of a WebAssembly.Memory it follows a grow', () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 8 });
    const viewed = WriteWatch.track(new Uint8Array(memory.buffer, PAGE + 1, 4 * PAGE));
    try {
      expect(viewed.tracked).toEqual({ offset: PAGE + 1, length: 4 * PAGE });
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
