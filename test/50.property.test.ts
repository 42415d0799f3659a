/**
 * Hostile input, property-based (fast-check): random sequences of writes and calls with random
 * arguments — wrong types, NaN, negative, fractional, huge, unaligned, overlapping, released and
 * foreign addresses — against a reference model of which pages are dirty. Every call must either
 * return exactly what the model says or throw an Error with an expected `.code`, and a call that
 * throws must leave the dirty state exactly as it was. The process must survive all of it.
 */
import { constants } from 'node:buffer';
import fc from 'fast-check';
import { readdirSync, readlinkSync } from 'node:fs';
import koffi from 'koffi';
import { afterAll, expect, it } from 'vitest';
import { probe, WriteWatch } from '../src/index.js';
import * as w from '../src/win32/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

const RUNS = Number(process.env.WRITEWATCH_PROPERTY_RUNS ?? 1000);
const PAGES = 8;
const LEN = PAGES * PAGE;
const ARG_ERRORS = ['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE'];
let calls = 0; // every public call made, reported at the end

afterAll(() => console.log(`property tests: ${calls} calls with random arguments`));

/** Anything a caller could pass where a number, an options object or a buffer is expected. */
const anyArg: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -2, max: LEN + PAGE + 2 }) }, // unaligned, in and out of range
  { weight: 4, arbitrary: fc.integer({ min: 0, max: PAGES + 1 }).map((p) => p * PAGE) }, // aligned
  { weight: 1, arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 31 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom<unknown>(undefined, null, NaN, -1, -0, 1.5, PAGE + 0.5, 2 ** 53, 2 ** 53 + 2,
      Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, Infinity, -Infinity, 2 ** 32, 2 ** 64),
  },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.bigInt() },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(2n ** 64n, BigInt(PAGE), -1n, 0n) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>('4096', true, false, {}, [], [PAGE], () => PAGE, Symbol('page'),
      { valueOf: () => PAGE }, new Float64Array(2), new ArrayBuffer(8), new Date(0), /x/),
  },
);

const optsArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 1, arbitrary: anyArg },
  {
    weight: 4,
    arbitrary: fc.record(
      { offset: anyArg, length: anyArg, maxPages: fc.oneof(anyArg, fc.integer({ min: 1, max: PAGES })), reset: fc.oneof(fc.boolean(), anyArg) },
      { requiredKeys: [] },
    ),
  },
);

const outArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: PAGES + 2 }).map((n) => new Float64Array(n)) },
  { weight: 1, arbitrary: anyArg },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(new Float32Array(4), [0, 0, 0], new BigUint64Array(4)) },
);

type Op =
  | { kind: 'write'; page: number }
  | { kind: 'get' | 'ranges'; opts: unknown }
  | { kind: 'getInto'; out: unknown; opts: unknown }
  | { kind: 'reset'; args: unknown[] }
  | { kind: 'close' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('write' as const), page: fc.integer({ min: 0, max: PAGES - 1 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constantFrom('get' as const, 'ranges' as const), opts: optsArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('getInto' as const), out: outArb, opts: optsArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('reset' as const), args: fc.array(anyArg, { maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'close' as const }) },
);

const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;

/** The model's reading of a range: null when API.md says it is an error. */
function range(offset: unknown, length: unknown): { first: number; end: number } | null {
  if (offset !== undefined && !isInt(offset, 0, LEN)) return null;
  const o = ((offset as number | undefined) ?? 0) + 0; // -0 is a valid offset 0: answers hold +0
  if (length !== undefined && !isInt(length, 0, LEN - o)) return null;
  const l = (length as number | undefined) ?? LEN - o;
  if (l === 0) return { first: 0, end: 0 };
  return { first: Math.floor(o / PAGE), end: Math.ceil((o + l) / PAGE) };
}

function options(opts: unknown): { first: number; end: number; max: number; reset: boolean } | null {
  if (opts === undefined) return { first: 0, end: PAGES, max: Infinity, reset: false };
  if (opts === null || typeof opts !== 'object') return null;
  const o = opts as Record<string, unknown>;
  // An unknown key (a misspelling, an array's index) is an argument error, never ignored.
  for (const k in o) if (k !== 'offset' && k !== 'length' && k !== 'maxPages' && k !== 'reset') return null;
  const r = range(o.offset, o.length);
  if (!r) return null;
  if (o.maxPages !== undefined && !isInt(o.maxPages, 1, Number.MAX_SAFE_INTEGER)) return null;
  if (o.reset !== undefined && typeof o.reset !== 'boolean') return null;
  return { ...r, max: (o.maxPages as number | undefined) ?? Infinity, reset: (o.reset as boolean | undefined) ?? false };
}

/** Dirty pages of [first, end), ascending, at most `max`. */
function expected(dirty: Set<number>, first: number, end: number, max: number): number[] {
  const pages: number[] = [];
  for (let p = first; p < end && pages.length < max; p++) if (dirty.has(p)) pages.push(p);
  return pages;
}

function expectCode(e: unknown, codes: string[]): void {
  expect(e).toBeInstanceOf(Error);
  expect(codes, String(e)).toContain((e as { code?: unknown }).code);
}

function coalesce(pages: number[]): { offset: number; length: number }[] {
  const out: { offset: number; length: number }[] = [];
  for (const p of pages) {
    const last = out[out.length - 1];
    if (last && last.offset + last.length === p * PAGE) last.length += PAGE;
    else out.push({ offset: p * PAGE, length: PAGE });
  }
  return out;
}

function runOps(ops: Op[]): void {
  const ww = WriteWatch.allocate(LEN);
  const u8 = new Uint8Array(ww.buffer);
  const dirty = new Set<number>();
  let closed = false;
  const state = () => [...dirty].sort((a, b) => a - b).map((p) => p * PAGE);
  try {
    for (const op of ops) {
      if (op.kind === 'write') {
        if (closed) continue;
        u8[op.page * PAGE + (op.page % 7)]++;
        dirty.add(op.page);
        continue;
      }
      if (op.kind === 'close') {
        ww.close();
        closed = true;
        continue;
      }
      calls++;
      let result: unknown;
      let error: unknown;
      try {
        if (op.kind === 'get') result = ww.get(op.opts as never);
        else if (op.kind === 'ranges') result = ww.ranges(op.opts as never);
        else if (op.kind === 'reset') result = (ww.reset as (...a: unknown[]) => void)(...op.args);
        else {
          if (op.out instanceof Float64Array) op.out.fill(-7);
          result = ww.getInto(op.out as Float64Array, op.opts as never);
        }
      } catch (e) {
        error = e;
      }
      if (closed) {
        expectCode(error, ['ERR_WRITEWATCH_CLOSED']);
        continue;
      }
      // What the model says: null = must throw an argument error.
      let want: { pages: number[]; reset: boolean } | null;
      if (op.kind === 'reset') {
        const r = range(op.args[0], op.args[1]);
        want = r && { pages: expected(dirty, r.first, r.end, Infinity), reset: true };
      } else {
        const o = options(op.opts);
        if (op.kind === 'getInto') {
          const out = op.out;
          if (!(out instanceof Float64Array) || !o) want = null;
          else if (out.length === 0) want = null; // no room for a page: an error, as *lpdwCount == 0 is
          else want = { pages: expected(dirty, o.first, o.end, Math.min(o.max, out.length)), reset: o.reset };
        } else {
          want = o && { pages: expected(dirty, o.first, o.end, o.max), reset: o.reset };
        }
      }
      if (!want) {
        expectCode(error, ARG_ERRORS);
        if (op.kind === 'getInto' && op.out instanceof Float64Array) expect(op.out.every((x) => x === -7)).toBe(true);
        // A failed call changed nothing.
        expect(ww.get()).toEqual(state());
        continue;
      }
      expect(error, String(error)).toBeUndefined();
      const offsets = want.pages.map((p) => p * PAGE);
      if (op.kind === 'get') expect(result).toEqual(offsets);
      else if (op.kind === 'ranges') expect(result).toEqual(coalesce(want.pages));
      else if (op.kind === 'getInto') {
        const out = op.out as Float64Array;
        expect(result).toBe(offsets.length);
        expect([...out.subarray(0, offsets.length)]).toEqual(offsets);
        expect(out.subarray(offsets.length).every((x) => x === -7)).toBe(true);
      }
      if (want.reset) for (const p of want.pages) dirty.delete(p);
      expect(ww.get()).toEqual(state());
    }
  } finally {
    ww.close();
  }
}

/** allocate's argument: tiny valid sizes, invalid values, and sizes the kernel cannot map. */
const allocArb = anyArg.filter((v) => !(typeof v === 'number' && Number.isSafeInteger(v) && v > 64 * PAGE && v < 2 ** 47));

describeKernel('50 property: random arguments give a correct result or a typed error, never a changed state', () => {
  it('WriteWatch get/getInto/ranges/reset/close against a model of the dirty pages', () => {
    fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), runOps), { numRuns: RUNS });
  });

  it('WriteWatch.allocate(anything): a WriteWatch, an argument error or ENOMEM', () => {
    const victim = WriteWatch.allocate(2 * PAGE);
    new Uint8Array(victim.buffer)[PAGE] = 1;
    try {
      fc.assert(
        fc.property(allocArb, (n) => {
          calls++;
          let ww: WriteWatch | undefined;
          try {
            ww = WriteWatch.allocate(n as number);
          } catch (e) {
            // Past buffer.constants.MAX_LENGTH (2^32 on Node 20) it is refused before anything is mapped.
            const fits = isInt(n, 1, Number.MAX_SAFE_INTEGER) && Math.ceil((n as number) / PAGE) * PAGE <= constants.MAX_LENGTH;
            expectCode(e, fits ? ['ENOMEM'] : ARG_ERRORS);
            return;
          }
          try {
            expect(isInt(n, 1, Number.MAX_SAFE_INTEGER)).toBe(true);
            expect(ww.byteLength).toBe(Math.ceil((n as number) / PAGE) * PAGE);
            expect(ww.get()).toEqual([]);
          } finally {
            ww.close();
          }
          expect(victim.get()).toEqual([PAGE]);
        }),
        { numRuns: RUNS },
      );
    } finally {
      victim.close();
    }
  });

  it('WriteWatch.track(anything): tracks every page holding a byte of the target, or throws a typed error and leaks nothing', () => {
    const uffds = () => readdirSync('/proc/self/fd').filter((f) => {
      try {
        return readlinkSync(`/proc/self/fd/${f}`) === 'anon_inode:[userfaultfd]';
      } catch {
        return false;
      }
    }).length;
    const baseline = uffds();
    const bufferArb = fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 5 * PAGE + 100 })).map(([shared, n]) =>
      shared ? new SharedArrayBuffer(n) : new ArrayBuffer(n));
    const viewArb = fc.tuple(bufferArb, fc.nat(), fc.nat(), fc.constantFrom('u8', 'f64', 'dv')).map(([buf, a, b, kind]) => {
      const unit = kind === 'f64' ? 8 : 1;
      const maxEl = Math.floor(buf.byteLength / unit);
      const off = maxEl ? a % (maxEl + 1) : 0;
      const len = maxEl - off ? b % (maxEl - off + 1) : 0;
      if (kind === 'f64') return new Float64Array(buf, off * 8, len);
      return kind === 'u8' ? new Uint8Array(buf, off, len) : new DataView(buf, off, len);
    });
    const targetArb: fc.Arbitrary<unknown> = fc.oneof(bufferArb, viewArb, anyArg);
    const optionsArb: fc.Arbitrary<unknown> = fc.constantFrom<unknown>(undefined, {}, null, 5, 'x', { maxByteLength: -1 }, { maxByteLength: 1.5 });
    fc.assert(
      fc.property(targetArb, optionsArb, (target, options) => {
        calls++;
        let ww: WriteWatch | undefined;
        try {
          ww = (WriteWatch.track as (t: unknown, o?: unknown) => WriteWatch)(target, options);
        } catch (e) {
          expectCode(e, ARG_ERRORS);
          expect(uffds()).toBe(baseline); // a refused target leaves no userfaultfd behind
          return;
        }
        try {
          const isView = ArrayBuffer.isView(target);
          const buffer = isView ? (target as ArrayBufferView).buffer : (target as ArrayBuffer);
          const from = isView ? (target as ArrayBufferView).byteOffset : 0;
          const to = from + (isView ? (target as ArrayBufferView).byteLength : buffer.byteLength);
          const u8 = new Uint8Array(buffer);
          // Byte 0's address from the buffer itself (koffi), not from the WriteWatch under test.
          const addr = Number(koffi.address(u8));
          expect(ww.address).toBe(BigInt(addr));
          // Every page holding a byte of the target is tracked, the partial ones at either end too,
          // each reported at its offset from byte 0 of the buffer, clipped to the target.
          ww.reset();
          const want: number[] = [];
          for (let p = Math.floor((addr + from) / PAGE) * PAGE; p < addr + to; p += PAGE) {
            const lo = Math.max(p - addr, from);
            const hi = Math.min(p + PAGE - addr, to);
            u8[lo + ((p / PAGE) % (hi - lo))]++;
            want.push(lo);
          }
          expect(want.length).toBeGreaterThan(0); // else track must have refused it
          expect(ww.tracked).toEqual({ offset: from, length: to - from });
          expect(ww.get()).toEqual(want);
        } finally {
          ww.close();
        }
        expect(uffds()).toBe(baseline);
      }),
      { numRuns: RUNS },
    );
  });

  it('probe() never throws and is consistent', () => {
    for (let i = 0; i < 3; i++) {
      calls++;
      const p = probe();
      expect(p.supported).toBe(p.reasons.length === 0);
    }
  });
});

// --- writewatch/win32 -------------------------------------------------------------------------

const { MEM_COMMIT, MEM_RESERVE, MEM_WRITE_WATCH, MEM_RELEASE, MEM_DECOMMIT, PAGE_READWRITE, WRITE_WATCH_FLAG_RESET } = w;
const WIN32_SIZE = 16 * PAGE;

/** Watched allocations no random call may name: their dirty state must never change. */
function pagesOf(base: bigint, size: number): bigint[] {
  const addrs = new BigUint64Array(size / PAGE);
  const count = { value: addrs.length };
  expect(w.ntGetWriteWatch(0, base, size, addrs, count, { value: 0 })).toBe(0);
  return [...addrs.subarray(0, count.value)];
}

describeKernel('50 property: writewatch/win32 with random, released and foreign addresses', () => {
  it('every call returns a Windows result or throws a typed error; nothing it may not touch changes', () => {
    const alloc = (): bigint => {
      const b = w.virtualAlloc(0n, WIN32_SIZE, MEM_RESERVE | MEM_COMMIT | MEM_WRITE_WATCH, PAGE_READWRITE);
      expect(b).not.toBe(0n);
      return b;
    };
    const victim = alloc();
    new Uint8Array(w.viewMemory(victim, WIN32_SIZE))[3 * PAGE] = 1;
    const victimPages = [victim + BigInt(3 * PAGE)];
    const target = alloc();
    const released = alloc();
    expect(w.virtualFree(released, 0, MEM_RELEASE)).toBe(true);
    // Foreign memory: a Node Buffer and a koffi allocation, never VirtualAlloc'ed.
    const foreignBuf = Buffer.alloc(4 * PAGE, 1);
    const foreign = koffi.address(foreignBuf) as bigint;
    const foreignPtr = koffi.address(koffi.alloc('uint8_t', 4 * PAGE)) as bigint;
    const targetView = new Uint8Array(w.viewMemory(target, WIN32_SIZE));

    const addrArb: fc.Arbitrary<unknown> = fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: -2, max: 18 }).chain((p) => fc.integer({ min: -1, max: 1 }).map((d) => target + BigInt(p * PAGE) + BigInt(d === 0 ? 0 : d * 17))) },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 17 }).map((p) => released + BigInt(p * PAGE)) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>(foreign, foreign + 4096n, foreignPtr, 0n, 1n, 2n ** 64n - 1n, 2n ** 47n, -1n, 2n ** 64n) },
      { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
      { weight: 1, arbitrary: anyArg },
    );
    const sizeArb: fc.Arbitrary<unknown> = fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 0, max: 18 }).map((p) => p * PAGE) },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 20 * PAGE }) },
      { weight: 1, arbitrary: anyArg },
    );
    const flagArb: fc.Arbitrary<unknown> = fc.oneof(fc.constantFrom<unknown>(0, WRITE_WATCH_FLAG_RESET, 2, 3, 0xffffffff), anyArg);
    const boxArb: fc.Arbitrary<unknown> = fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 20 }).map((value) => ({ value })) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>(null, undefined, {}, { value: -1 }, { value: 1.5 }, { value: 'x' }, { value: 2 ** 53 }) },
    );
    const arrArb: fc.Arbitrary<unknown> = fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 20 }).map((n) => new BigUint64Array(n)) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>(null, [], [0n, 0n], new Float64Array(4), new Uint32Array(8)) },
    );
    // The victim is never named: a base address inside it would be a legitimate call on it. (Ranges
    // from elsewhere that run into it are fine: they belong to no single allocation and must fail.)
    const inVictim = (a: unknown) => typeof a === 'bigint' && a >= victim && a < victim + BigInt(WIN32_SIZE);
    const addr = addrArb.filter((a) => !inVictim(a));
    const callArb = fc.oneof(
      fc.tuple(fc.constantFrom('getWriteWatch', 'ntGetWriteWatch'), flagArb, addr, sizeArb, arrArb, boxArb, boxArb),
      fc.tuple(fc.constantFrom('resetWriteWatch', 'ntResetWriteWatch'), addr, sizeArb),
      // Only addresses outside the watched allocations: a successful free or protect of the target
      // would be a legitimate change, and a PAGE_NOACCESS target would fault the model's writes.
      fc.tuple(fc.constant('virtualFree'), fc.oneof(addr.filter((a) => !inTarget(a)), anyArg), sizeArb, fc.oneof(fc.constantFrom<unknown>(MEM_RELEASE, MEM_DECOMMIT, 0, 0xc000), anyArg)),
      fc.tuple(fc.constant('virtualProtect'), addr.filter((a) => !inTarget(a)), sizeArb, fc.oneof(fc.constantFrom<unknown>(1, 2, 4, 0x40, 0), anyArg), boxArb),
      fc.tuple(fc.constant('viewMemory'), addr, sizeArb),
      fc.tuple(fc.constant('write'), fc.integer({ min: 0, max: 15 })),
    );
    function inTarget(a: unknown): boolean {
      return typeof a === 'bigint' && a >= target - BigInt(2 * PAGE) && a < target + BigInt(WIN32_SIZE + 2 * PAGE);
    }
    const WIN32_CODES = [...ARG_ERRORS];
    const NT_STATUSES = Object.entries(w).filter(([k]) => k.startsWith('STATUS_')).map(([, v]) => v as number);
    const LAST_ERRORS = [w.ERROR_INVALID_PARAMETER, w.ERROR_NOACCESS, w.ERROR_NOT_SUPPORTED, w.ERROR_INVALID_ADDRESS];
    // The model: target's pages written since their last reset, from what the sequence did (its
    // writes; the pages a successful reset call returned or covered), never from the library.
    const model = new Set<number>();
    let modelled = 0; // successful calls on the target compared with the model
    const modelPages = () => [...model].sort((x, y) => x - y).map((p) => target + BigInt(p * PAGE));
    /** The target pages a successful call on [a, a + size) covers: every page it touches. */
    const covered = (a: bigint, size: number): [number, number] => {
      const from = Math.floor(Number(a - target) / PAGE);
      const to = Math.ceil((Number(a - target) + size) / PAGE);
      return [Math.max(0, from), Math.min(16, to)];
    };
    try {
      fc.assert(
        fc.property(fc.array(callArb, { minLength: 1, maxLength: 25 }), (seq) => {
          for (const [name, ...args] of seq as [string, ...unknown[]][]) {
            if (name === 'write') {
              targetView[(args[0] as number) * PAGE]++;
              model.add(args[0] as number);
              continue;
            }
            const before = pagesOf(target, WIN32_SIZE);
            expect(before).toEqual(modelPages());
            const capacity = /getwritewatch$/i.test(name) ? (args[4] as { value?: unknown } | null)?.value : undefined;
            calls++;
            let ret: unknown;
            let threw: unknown;
            try {
              ret = (w as unknown as Record<string, (...a: unknown[]) => unknown>)[name](...args);
            } catch (e) {
              threw = e;
            }
            if (threw !== undefined) expectCode(threw, name === 'viewMemory' ? ['ERR_OUT_OF_RANGE', ...WIN32_CODES] : WIN32_CODES);
            let failed = threw !== undefined;
            if (!failed && (name === 'getWriteWatch' || name === 'resetWriteWatch')) {
              expect([0, 0xffffffff]).toContain(ret);
              failed = ret !== 0;
              if (failed) expect(LAST_ERRORS).toContain(w.getLastError());
            } else if (!failed && name.startsWith('nt')) {
              expect(NT_STATUSES).toContain(ret);
              failed = ret !== 0;
            } else if (!failed && (name === 'virtualFree' || name === 'virtualProtect')) {
              expect(typeof ret).toBe('boolean');
              failed = ret === false;
            }
            // A successful call on the target answers as the model says, and resets what it should.
            if (!failed && name.endsWith('WriteWatch')) {
              const isGet = /getwritewatch$/i.test(name);
              const [a, size] = (isGet ? [args[1], args[2]] : [args[0], args[1]]) as [bigint, number];
              expect(a >= target && a < target + BigInt(WIN32_SIZE), `${name} succeeded outside the target`).toBe(true);
              const [from, to] = covered(a, size);
              modelled++;
              const inRange = [...model].filter((p) => p >= from && p < to).sort((x, y) => x - y);
              if (isGet) {
                const count = (args[4] as { value: number }).value;
                expect(count).toBe(Math.min(capacity as number, inRange.length));
                // (With a capacity of 0 the array may be anything: nothing is written to it.)
                const got = count === 0 ? [] : Array.prototype.slice.call(args[3], 0, count);
                expect(got).toEqual(inRange.slice(0, count).map((p) => target + BigInt(p * PAGE)));
                if (((args[0] as number) & WRITE_WATCH_FLAG_RESET) !== 0) for (const p of inRange.slice(0, count)) model.delete(p);
              } else {
                for (const p of inRange) model.delete(p);
              }
            }
            expect(pagesOf(target, WIN32_SIZE), `${name}(${args.map(String).join(', ')})`).toEqual(modelPages());
            // The victim is never named: unchanged whatever happened.
            expect(pagesOf(victim, WIN32_SIZE), `${name}(${args.map(String).join(', ')})`).toEqual(victimPages);
            if (failed || name === 'viewMemory') expect(pagesOf(target, WIN32_SIZE), `${name}(${args.map(String).join(', ')})`).toEqual(before);
          }
        }),
        // No shrinking: the model is state carried from call to call, which a shrunk replay breaks.
        { numRuns: RUNS, endOnFailure: true },
      );
    } finally {
      w.virtualFree(target, 0, MEM_RELEASE);
      w.virtualFree(victim, 0, MEM_RELEASE);
    }
    expect(foreignBuf.every((b) => b === 1)).toBe(true);
    console.log(`win32 property: ${modelled} successful GetWriteWatch/ResetWriteWatch calls compared with the model`);
    expect(modelled).toBeGreaterThan(0);
  });
});
