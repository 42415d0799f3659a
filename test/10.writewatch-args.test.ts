/**
 * Bad arguments: each method throws Node's error code, and a call that throws has reset nothing
 * (every bad call below asks for `reset: true` or is a reset, on memory with pages written).
 */
import { constants } from 'node:buffer';
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { WriteWatch } from '../src/index.js';
import { PAGE } from './support/kernel.js';
import { describeEachMechanism, type TestMechanism } from './support/mechanisms.js';

const open: WriteWatch[] = [];
afterEach(() => {
  for (const ww of open.splice(0)) ww.close();
});

const PAGES = 8;
const WRITTEN = [0, 3, 7];

function dirty(mechanism: TestMechanism): WriteWatch {
  const ww = WriteWatch.allocate(PAGES * PAGE, { mechanism });
  open.push(ww);
  const u8 = new Uint8Array(ww.buffer);
  for (const p of WRITTEN) u8[p * PAGE + 1] = 1;
  return ww;
}

function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(Error);
  expect((thrown as { code?: string }).code).toBe(code);
}

/** Options that are wrong, with the code each must raise; every one also asks for a reset. */
const badOptions: [string, unknown, string][] = [
  ['null options', null, 'ERR_INVALID_ARG_TYPE'],
  ['string options', 'reset', 'ERR_INVALID_ARG_TYPE'],
  ['number options', 1, 'ERR_INVALID_ARG_TYPE'],
  ['offset as string', { reset: true, offset: '0' }, 'ERR_INVALID_ARG_TYPE'],
  ['offset as bigint', { reset: true, offset: 0n }, 'ERR_INVALID_ARG_TYPE'],
  ['negative offset', { reset: true, offset: -1 }, 'ERR_OUT_OF_RANGE'],
  ['fractional offset', { reset: true, offset: 1.5 }, 'ERR_OUT_OF_RANGE'],
  ['NaN offset', { reset: true, offset: NaN }, 'ERR_OUT_OF_RANGE'],
  ['offset past byteLength', { reset: true, offset: PAGES * PAGE + 1 }, 'ERR_OUT_OF_RANGE'],
  ['length as string', { reset: true, length: '4096' }, 'ERR_INVALID_ARG_TYPE'],
  ['negative length', { reset: true, length: -1 }, 'ERR_OUT_OF_RANGE'],
  ['Infinity length', { reset: true, length: Infinity }, 'ERR_OUT_OF_RANGE'],
  ['length past byteLength', { reset: true, length: PAGES * PAGE + 1 }, 'ERR_OUT_OF_RANGE'],
  ['range running one byte past the end', { reset: true, offset: PAGE, length: (PAGES - 1) * PAGE + 1 }, 'ERR_OUT_OF_RANGE'],
  ['maxPages 0 (*lpdwCount == 0)', { reset: true, maxPages: 0 }, 'ERR_OUT_OF_RANGE'],
  ['negative maxPages', { reset: true, maxPages: -1 }, 'ERR_OUT_OF_RANGE'],
  ['fractional maxPages', { reset: true, maxPages: 2.5 }, 'ERR_OUT_OF_RANGE'],
  ['maxPages as string', { reset: true, maxPages: '2' }, 'ERR_INVALID_ARG_TYPE'],
  ['reset as number', { reset: 1 }, 'ERR_INVALID_ARG_TYPE'],
  ['reset as string', { reset: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
];

describeEachMechanism('WriteWatch arguments', (mechanism) => {
  it('allocate rejects what is not a positive safe integer', () => {
    for (const [v, code] of [
      [0, 'ERR_OUT_OF_RANGE'],
      [-PAGE, 'ERR_OUT_OF_RANGE'],
      [1.5, 'ERR_OUT_OF_RANGE'],
      [NaN, 'ERR_OUT_OF_RANGE'],
      [Infinity, 'ERR_OUT_OF_RANGE'],
      [2 ** 53, 'ERR_OUT_OF_RANGE'],
      ['4096', 'ERR_INVALID_ARG_TYPE'],
      [4096n, 'ERR_INVALID_ARG_TYPE'],
      [undefined, 'ERR_INVALID_ARG_TYPE'],
      [null, 'ERR_INVALID_ARG_TYPE'],
    ] as [unknown, string][]) {
      expectCode(() => WriteWatch.allocate(v as number, { mechanism }), code);
    }
  });

  // On Node 20, 2^50 is past buffer.constants.MAX_LENGTH (2^32): ERR_OUT_OF_RANGE, before any mmap.
  it.skipIf(constants.MAX_LENGTH < 2 ** 50)(`allocate of more than the address space holds is ENOMEM from mmap, and leaks no fd${constants.MAX_LENGTH < 2 ** 50 ? ` (skipped: Node ${process.versions.node} refuses 2^50 bytes before mmap, buffer.constants.MAX_LENGTH ${constants.MAX_LENGTH}: test/10.writewatch-max-length)` : ''}`, () => {
    // /proc is Linux's (under Wine it lists the host's descriptors of the wine process): 0 elsewhere.
    const fds = () => (process.platform === 'linux' ? readdirSync('/proc/self/fd').length : 0);
    WriteWatch.allocate(PAGE, { mechanism }).close(); // open the shared pagemap fd first
    const before = fds();
    for (let i = 0; i < 5; i++) {
      let err: any;
      try {
        WriteWatch.allocate(2 ** 50, { mechanism }); // 1 PiB: beyond x86_64's 128 TiB user space
      } catch (e) {
        err = e;
      }
      expect(err?.code).toBe('ENOMEM');
      expect(err?.syscall).toBe(process.platform === 'win32' ? 'VirtualAlloc' : 'mmap');
      expect(err?.errno).toBe(12);
    }
    expect(fds()).toBe(before);
  });

  it('allocate past the largest ArrayBuffer (buffer.constants.MAX_LENGTH) is ERR_OUT_OF_RANGE and leaves nothing mapped', () => {
    // /proc is Linux's (under Wine it lists the host's descriptors of the wine process): 0 elsewhere.
    const fds = () => (process.platform === 'linux' ? readdirSync('/proc/self/fd').length : 0);
    // Mappings at least as large as the request: a leaked one would be the only such line.
    const huge = (bytes: number) =>
      process.platform !== 'linux' ? 0 : readFileSync('/proc/self/maps', 'utf8')
        .split('\n')
        .filter((l) => {
          const [a, b] = (l.split(' ')[0] ?? '').split('-').map((x) => parseInt(x, 16));
          return b - a >= bytes;
        }).length;
    const bytes = constants.MAX_LENGTH + PAGE;
    WriteWatch.allocate(PAGE, { mechanism }).close();
    const [fd0, maps0] = [fds(), huge(bytes)];
    for (let i = 0; i < 3; i++) expectCode(() => WriteWatch.allocate(bytes, { mechanism }), 'ERR_OUT_OF_RANGE');
    expect(fds()).toBe(fd0);
    expect(huge(bytes)).toBe(maps0);
  });

  for (const method of ['get', 'getInto', 'ranges'] as const) {
    it(`${method}: each bad option throws its code and resets nothing`, () => {
      const ww = dirty(mechanism);
      for (const [what, opts, code] of badOptions) {
        const call = method === 'getInto' ? () => ww.getInto(new Float64Array(16), opts as object) : () => ww[method](opts as object);
        expectCode(call, code);
        expect([what, ww.get()]).toEqual([what, WRITTEN.map((p) => p * PAGE)]);
      }
    });
  }

  it('getInto: out must be a Float64Array; nothing is written into a rejected one', () => {
    const ww = dirty(mechanism);
    for (const out of [[0, 0, 0], new Uint32Array(4), new BigUint64Array(4), new Float32Array(4), null, undefined, 3, new ArrayBuffer(32)]) {
      expectCode(() => ww.getInto(out as unknown as Float64Array, { reset: true }), 'ERR_INVALID_ARG_TYPE');
    }
    const arr = [9, 9, 9];
    expectCode(() => ww.getInto(arr as unknown as Float64Array, { reset: true }), 'ERR_INVALID_ARG_TYPE');
    expect(arr).toEqual([9, 9, 9]);
    // Bad options with a valid array: the array stays as it was.
    const out = new Float64Array(4).fill(-1);
    expectCode(() => ww.getInto(out, { reset: true, maxPages: 0 }), 'ERR_OUT_OF_RANGE');
    expect([...out]).toEqual([-1, -1, -1, -1]);
    expect(ww.get()).toEqual(WRITTEN.map((p) => p * PAGE));
  });

  it('reset: bad offset/length throw their code and reset nothing', () => {
    const ww = dirty(mechanism);
    const cases: [unknown, unknown, string][] = [
      ['0', undefined, 'ERR_INVALID_ARG_TYPE'],
      [0, '4096', 'ERR_INVALID_ARG_TYPE'],
      [0n, undefined, 'ERR_INVALID_ARG_TYPE'],
      [null, undefined, 'ERR_INVALID_ARG_TYPE'],
      [-1, undefined, 'ERR_OUT_OF_RANGE'],
      [0.5, undefined, 'ERR_OUT_OF_RANGE'],
      [PAGES * PAGE + 1, undefined, 'ERR_OUT_OF_RANGE'],
      [0, -PAGE, 'ERR_OUT_OF_RANGE'],
      [0, PAGES * PAGE + 1, 'ERR_OUT_OF_RANGE'],
      [PAGE, PAGES * PAGE, 'ERR_OUT_OF_RANGE'],
      [0, NaN, 'ERR_OUT_OF_RANGE'],
    ];
    for (const [offset, length, code] of cases) {
      expectCode(() => ww.reset(offset as number, length as number), code);
      expect([offset, length, ww.get()]).toEqual([offset, length, WRITTEN.map((p) => p * PAGE)]);
    }
  });

  it('error messages name the argument, as Node does', () => {
    const ww = dirty(mechanism);
    expect(() => ww.get({ maxPages: 0 })).toThrow(/maxPages/);
    expect(() => ww.get({ offset: -1 })).toThrow(/offset/);
    expect(() => ww.reset(0, -1)).toThrow(/length/);
    expect(() => WriteWatch.allocate('1' as unknown as number)).toThrow(/byteLength/);
  });
});
