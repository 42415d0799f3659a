/**
 * WriteWatch.track over memory JS already owns, against the real kernel: exact offsets for each
 * target kind, after writes from JS, wasm code and the kernel, across grows; close leaves the
 * target as it was. Expected offsets are computed from the buffer's address and the bytes
 * written, never copied from a previous run. Runs once per mechanism (every write here changes
 * the bytes it lands on); the cases where 'compare' answers differently say so.
 */
import { expectReported, edgesOf } from './support/edges.js';
import { openSync, closeSync, readSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import koffi from 'koffi';
import vm from 'node:vm';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { WriteWatch } from '../src/index.js';
import { kernel, PAGE } from './support/kernel.js';
import { describeEachMechanism, type TestMechanism } from './support/mechanisms.js';

/* test/60.track.wat (compiled with wat2wasm 1.0.32):
   (module
     (import "env" "memory" (memory 0))
     (func (export "store8") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
     (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
     (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))) */
const WASM = Buffer.from(
  'AGFzbQEAAAABEQNgAn9/AGABfwF/YAN/f38AAg8BA2VudgZtZW1vcnkCAAADBAMAAQIHGAMGc3RvcmU4AAAEZ3JvdwABBGZpbGwAAgoeAwkAIAAgAToAAAsGACAAQAALCwAgACABIAL8CwAL',
  'base64',
);
interface Guest {
  store8(addr: number, value: number): void;
  grow(pages: number): number;
  fill(addr: number, value: number, length: number): void;
}
const WASM_PAGE = 65536;
const MiB = 1 << 20;

function guest(memory: WebAssembly.Memory): Guest {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(WASM), { env: { memory } });
  return instance.exports as unknown as Guest;
}

/** Where byte 0 of the buffer is, asked of the buffer itself (koffi), not of the WriteWatch. */
function addressOfBuffer(buffer: ArrayBufferLike): number {
  return Number(koffi.address(new Uint8Array(buffer)));
}

/**
 * The offsets get() must return after writing `bytes`: each byte's page, if the page lies wholly
 * inside `tracked`, relative to byte 0. The address comes from the buffer, not from `ww.address`.
 */
function expectedPages(ww: WriteWatch<ArrayBufferLike>, bytes: number[], tracked: [number, number] = [0, ww.byteLength]): number[] {
  const addr = addressOfBuffer(ww.buffer);
  expect(ww.address).toBe(BigInt(addr));
  // Every page holding a written byte of the target, its partial first and last pages included,
  // reported at its offset clipped to the target's first byte.
  const pages = new Set<number>();
  for (const b of bytes) {
    if (b < tracked[0] || b >= tracked[1]) continue;
    const p = Math.floor((addr + b) / PAGE) * PAGE - addr;
    pages.add(Math.max(p, tracked[0]));
  }
  return [...pages].sort((a, b) => a - b);
}

function pattern(length: number, seed: number): Uint8Array {
  const u8 = new Uint8Array(length);
  for (let i = 0; i < length; i++) u8[i] = (i * 31 + seed) & 0xff;
  return u8;
}

/** The mechanism of the describe block running now (set before each of its tests). */
let mech: TestMechanism = 'write-protect';
/** The options of a track() call, with the current mechanism. */
const with_ = (o: object = {}) => ({ ...o, mechanism: mech });
function describeTrack(name: string, fn: (mechanism: TestMechanism) => void): void {
  describeEachMechanism(
    name,
    (m) => {
      beforeEach(() => {
        mech = m;
      });
      fn(m);
    },
    { tracks: true },
  );
}

const open: WriteWatch[] = [];
function track(target: Parameters<typeof WriteWatch.track>[0], options?: object): WriteWatch {
  const ww = WriteWatch.track(target, with_(options));
  expect(ww.mechanism).toBe(mech);
  open.push(ww);
  return ww;
}
afterEach(() => {
  for (const ww of open.splice(0)) ww.close();
});

describeTrack('60 track: ArrayBuffer and SharedArrayBuffer', (mechanism) => {
  it('reports exact pages of a non-page-aligned ArrayBuffer, relative to its byte 0', () => {
    const ab = new ArrayBuffer(4 * MiB);
    const ww = track(ab);
    expect(ww.buffer).toBe(ab);
    expect(ww.byteLength).toBe(ab.byteLength);
    const edges = edgesOf(addressOfBuffer(ab), ww.tracked, PAGE);
    expectReported(ww.get(), [], edges); // nothing, or an edge a neighbour wrote
    ww.reset();
    const u8 = new Uint8Array(ab);
    // The first and last bytes share a page with malloc's bookkeeping: tracked all the same, and
    // the first page reported at offset 0. In pages, whatever their size: 0 and 1 share the first
    // page, the others are pages apart.
    const bytes = [0, 1, PAGE + 904, PAGE + 905, 3 * PAGE + 100, 2 * MiB + 3, ab.byteLength - 1];
    for (const b of bytes) u8[b] = 7;
    new DataView(ab).setFloat64(3 * MiB, 1.5);
    bytes.push(3 * MiB);
    const want = expectedPages(ww, bytes);
    expect(want.length).toBeGreaterThanOrEqual(6);
    expect(want[0]).toBe(0);
    expect(ww.get()).toEqual(want);
    expect(ww.get({ reset: true })).toEqual(want);
    expectReported(ww.get(), [], edges);
    // A read is not a write.
    let sum = 0;
    for (let i = 0; i < u8.length; i += 512) sum += u8[i];
    expect(sum).toBeGreaterThan(0);
    // Nothing of ours was written; the first and last pages are partly malloc's, whose neighbours may
    // write them meanwhile (seen under emulation, where allocator threads run between the calls).
    expectReported(ww.get(), [], edges);
  });

  it('tracks a fixed SharedArrayBuffer, Atomics and fill included', () => {
    const sab = new SharedArrayBuffer(2 * MiB);
    const ww = track(sab);
    expect(ww.buffer).toBe(sab);
    const i32 = new Int32Array(sab);
    Atomics.store(i32, 40_000, 1);
    new Uint8Array(sab).fill(9, 600_000, 600_000 + 3 * PAGE);
    const bytes = [40_000 * 4];
    for (let b = 600_000; b < 600_000 + 3 * PAGE; b += 256) bytes.push(b);
    bytes.push(600_000 + 3 * PAGE - 1);
    const edges = edgesOf(addressOfBuffer(sab), ww.tracked, PAGE);
    expectReported(
      ww.ranges().flatMap((r) => Array.from({ length: Math.ceil(r.length / PAGE) }, (_, i) => r.offset + i * PAGE)),
      expectedPages(ww, bytes),
      edges,
    );
    expectReported(ww.get({ reset: true }), expectedPages(ww, bytes), edges);
  });

  it('tracks every page holding a byte of a typed-array view, offsets relative to the buffer and clipped to the view', () => {
    const ab = new ArrayBuffer(2 * MiB);
    const from = PAGE + 904, to = from + 10 * PAGE + 123; // neither end on a page boundary
    const view = new Uint16Array(ab, from, (to - from) / 2);
    const ww = track(view);
    expect(ww.buffer).toBe(ab);
    expect(ww.byteLength).toBe(ab.byteLength);
    new Uint8Array(ab).fill(1); // every byte of the buffer, inside and outside the view
    const all = Array.from({ length: ab.byteLength }, (_, i) => i);
    const want = expectedPages(ww, all, [from, to]);
    expect(want.length).toBeGreaterThanOrEqual(9);
    expect(ww.get()).toEqual(want);
    expect(want[0]).toBe(from);
    expect(ww.ranges()).toEqual([{ offset: from, length: view.byteLength }]);
  });

  it('counts writes the kernel makes on our behalf (readSync into the buffer)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ww-track-'));
    try {
      const file = join(dir, 'data');
      writeFileSync(file, pattern(3 * PAGE, 1));
      const ab = new ArrayBuffer(MiB);
      const ww = track(ab);
      const fd = openSync(file, 'r');
      try {
        expect(readSync(fd, new Uint8Array(ab), 200_000, 3 * PAGE, 0)).toBe(3 * PAGE);
      } finally {
        closeSync(fd);
      }
      const want = expectedPages(ww, [200_000, 200_000 + PAGE, 200_000 + 2 * PAGE, 200_000 + 3 * PAGE - 1]);
      expectReported(ww.get(), want, edgesOf(addressOfBuffer(ab), ww.tracked, PAGE));
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('close() unregisters, never frees: the target keeps its bytes and stays usable and trackable', () => {
    const ab = new ArrayBuffer(MiB);
    const u8 = new Uint8Array(ab);
    u8.set(pattern(ab.byteLength, 3));
    const ww = WriteWatch.track(ab, with_());
    u8[300_000] = 0xaa;
    const want = pattern(ab.byteLength, 3);
    want[300_000] = 0xaa;
    expectReported(ww.get(), expectedPages(ww, [300_000]), edgesOf(addressOfBuffer(ab), ww.tracked, PAGE));
    ww.close();
    expect(ww.closed).toBe(true);
    expect(ww.byteLength).toBe(MiB);
    expect(() => ww.get()).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_CLOSED' }));
    expect(() => ww.buffer).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_CLOSED' }));
    expect(ab.byteLength).toBe(MiB);
    expect(Buffer.compare(Buffer.from(ab), Buffer.from(want))).toBe(0);
    u8.fill(5); // writes after close go to the memory as usual (no fault left armed)
    expect(u8.every((v) => v === 5)).toBe(true);
    const again = track(ab); // the kernel dropped the registration: no EBUSY
    const edges = edgesOf(addressOfBuffer(ab), again.tracked, PAGE);
    expectReported(again.get(), [], edges);
    u8[700_000] = 1;
    expectReported(again.get(), expectedPages(again, [700_000]), edges);
  });

  it('keeps the target alive while tracked, even when the caller drops every reference', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const ww = track(new ArrayBuffer(2 * MiB));
    for (let i = 0; i < 3; i++) {
      new Array(1e5).fill({}); // churn
      gc();
    }
    const u8 = new Uint8Array(ww.buffer);
    u8[1_000_000] = 1;
    expectReported(ww.get(), expectedPages(ww, [1_000_000]), edgesOf(addressOfBuffer(ww.buffer), ww.tracked, PAGE));
  });
});

describeTrack('60 track: WebAssembly.Memory', (mechanism) => {
  it('reports writes from JS and from wasm code exactly; .buffer is the memory\'s buffer', () => {
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 64 });
    const g = guest(memory);
    const ww = track(memory, { maxByteLength: 64 * WASM_PAGE });
    expect(Number(ww.address) % PAGE).toBe(0);
    expect(ww.buffer).toBe(memory.buffer);
    expect(ww.byteLength).toBe(4 * WASM_PAGE);
    expect(ww.get()).toEqual([]);
    g.store8(70_000, 1);
    g.fill(150_000, 2, 2 * PAGE + 1);
    new Uint8Array(memory.buffer)[10] = 3;
    expect(ww.get({ reset: true })).toEqual(expectedPages(ww, [10, 70_000, 150_000, 150_000 + PAGE, 150_000 + 2 * PAGE]));
    expect(ww.get()).toEqual([]);
  });

  it('follows grow() from JS and from wasm: grown pages read clean until written, writes before the next call included', () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const g = guest(memory);
    const ww = track(memory); // no maximum known: the 4 GiB wasm32 limit is armed
    const first = memory.buffer;
    const view = new Uint8Array(memory.buffer); // a view of memory.buffer, as a user would keep one
    expect(ww.get()).toEqual([]);
    expect(memory.grow(3)).toBe(1);
    expect(first.byteLength).toBe(0); // V8 detached the old buffer...
    expect(view.length).toBe(0); // ...and so every view of it: writes through it go nowhere
    view[PAGE] = 1;
    expect(view[PAGE]).toBeUndefined();
    expect(new Uint8Array(memory.buffer)[PAGE]).toBe(0);
    expect(ww.byteLength).toBe(4 * WASM_PAGE);
    expect(ww.buffer).toBe(memory.buffer);
    expect(ww.get()).toEqual([]); // 3 grown wasm pages, none written
    g.store8(3 * WASM_PAGE + 5, 1);
    // A grow from inside wasm, then a write into the new part, with no call in between.
    expect(g.grow(10)).toBe(4);
    g.store8(13 * WASM_PAGE + 100, 1);
    new Uint8Array(memory.buffer)[9 * WASM_PAGE] = 1;
    expect(ww.byteLength).toBe(14 * WASM_PAGE);
    expect(ww.get({ reset: true })).toEqual(expectedPages(ww, [3 * WASM_PAGE + 5, 9 * WASM_PAGE, 13 * WASM_PAGE + 100]));
    expect(ww.get()).toEqual([]);
  });

  it('tracks a memory that starts empty and grows', () => {
    const memory = new WebAssembly.Memory({ initial: 0, maximum: 4 });
    const ww = track(memory, { maxByteLength: 4 * WASM_PAGE });
    expect(ww.byteLength).toBe(0);
    expect(ww.get()).toEqual([]);
    memory.grow(2);
    guest(memory).store8(WASM_PAGE + 2 * PAGE, 1);
    expect(ww.get()).toEqual([WASM_PAGE + 2 * PAGE]);
  });

  it(`with a smaller maxByteLength, pages grown past it ${mechanism === 'compare' ? 'compare against zeros: clean until changed' : 'are not armed and read as written (never lost)'}`, () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const ww = track(memory, { maxByteLength: 2 * WASM_PAGE });
    memory.grow(2);
    const past = [];
    for (let p = 2 * WASM_PAGE; p < 3 * WASM_PAGE; p += PAGE) past.push(p);
    // The shadow grows with the memory, zero-filled: the new part is exact under compare.
    expect(ww.get()).toEqual(mechanism === 'compare' ? [] : past);
    ww.reset();
    expect(ww.get()).toEqual([]);
    new Uint8Array(memory.buffer)[2 * WASM_PAGE + 3 * PAGE] = 1;
    expect(ww.get()).toEqual([2 * WASM_PAGE + 3 * PAGE]);
  });

  it("a subclass whose buffer getter lies is not believed: the memory's own buffer is tracked and reported", () => {
    // Issue 19: a getter runs user code and can lie; the library reads the engine's own getter.
    class Lying extends WebAssembly.Memory {
      elsewhere: ArrayBuffer | null = null;
      override get buffer(): ArrayBuffer {
        return this.elsewhere ?? super.buffer;
      }
    }
    const memory = new Lying({ initial: 2 });
    const ww = track(memory, { maxByteLength: 4 * WASM_PAGE });
    memory.elsewhere = new ArrayBuffer(4 * WASM_PAGE);
    new Uint8Array(Object.getOwnPropertyDescriptor(WebAssembly.Memory.prototype, 'buffer')!.get!.call(memory))[10] = 1;
    expect(ww.buffer).not.toBe(memory.elsewhere);
    expect(ww.byteLength).toBe(2 * WASM_PAGE);
    expect(ww.get()).toEqual([0]);
  });

  it('close() leaves the memory usable, growable and unchanged', () => {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const g = guest(memory);
    new Uint8Array(memory.buffer).set(pattern(2 * WASM_PAGE, 9));
    const ww = WriteWatch.track(memory, with_());
    g.store8(1000, 0xee);
    ww.close();
    const want = pattern(2 * WASM_PAGE, 9);
    want[1000] = 0xee;
    expect(Buffer.compare(Buffer.from(memory.buffer), Buffer.from(want))).toBe(0);
    expect(memory.grow(1)).toBe(2);
    g.store8(2 * WASM_PAGE + 1, 4);
    expect(new Uint8Array(memory.buffer)[2 * WASM_PAGE + 1]).toBe(4);
    const again = track(memory);
    expect(again.get()).toEqual([]);
  });
});

describeTrack('60 track: resizable ArrayBuffer and growable SharedArrayBuffer', (mechanism) => {
  it('follows a resizable ArrayBuffer as it grows; grown pages read clean until written', () => {
    const ab = new ArrayBuffer(10_000, { maxByteLength: 16 * MiB });
    const ww = track(ab);
    expect(Number(ww.address) % PAGE).toBe(0);
    expect(ww.byteLength).toBe(10_000);
    new Uint8Array(ab)[9_999] = 1;
    ab.resize(4 * MiB);
    expect(ww.byteLength).toBe(4 * MiB);
    expect(ww.get({ reset: true })).toEqual(expectedPages(ww, [9_999]));
    const u8 = new Uint8Array(ab);
    u8[3 * MiB + 17] = 1;
    u8[4 * MiB - 1] = 1;
    expect(ww.get()).toEqual(expectedPages(ww, [3 * MiB + 17, 4 * MiB - 1]));
    expect(() => ww.get({ offset: 4 * MiB + 1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });

  it('after a shrink and a regrow, pages V8 discarded read as written (their bytes changed to zero), not clean', () => {
    const ab = new ArrayBuffer(MiB, { maxByteLength: 2 * MiB });
    const ww = track(ab);
    new Uint8Array(ab).fill(1);
    ww.reset();
    ab.resize(PAGE);
    ab.resize(MiB);
    expect(new Uint8Array(ab)[PAGE + 1]).toBe(0);
    const discarded = [];
    for (let p = PAGE; p < MiB; p += PAGE) discarded.push(p);
    const got = ww.get();
    expect(got).toEqual(discarded);
  });

  it('follows a growable SharedArrayBuffer', () => {
    const sab = new SharedArrayBuffer(PAGE, { maxByteLength: 8 * MiB });
    const ww = track(sab);
    expect(ww.buffer).toBe(sab);
    sab.grow(6 * MiB);
    expect(ww.byteLength).toBe(6 * MiB);
    expect(ww.get()).toEqual([]);
    new Uint8Array(sab)[5 * MiB + 1] = 1;
    expect(ww.get()).toEqual(expectedPages(ww, [5 * MiB + 1]));
  });
});

describeTrack('60 track: bad targets are typed errors', (mechanism) => {
  it('rejects what is not memory', () => {
    for (const bad of [undefined, null, 42, 'buffer', {}, [1, 2, 3], new Map()]) {
      expect(() => WriteWatch.track(bad as never, with_())).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    }
    expect(() => WriteWatch.track(new ArrayBuffer(MiB), 5 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => WriteWatch.track(new WebAssembly.Memory({ initial: 1 }), with_({ maxByteLength: -1 }))).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
    );
  });

  it('rejects a detached or empty buffer; a buffer smaller than a page is tracked whole', () => {
    const ab = new ArrayBuffer(MiB);
    structuredClone(ab, { transfer: [ab] });
    expect(() => WriteWatch.track(ab, with_())).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => WriteWatch.track(new ArrayBuffer(0), with_())).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const small = new ArrayBuffer(PAGE - 1);
    const ws = WriteWatch.track(small, with_());
    expect(ws.tracked).toEqual({ offset: 0, length: PAGE - 1 });
    new Uint8Array(small)[PAGE - 2] = 1;
    expect(ws.get()).toContain(Math.max(0, Math.floor((addressOfBuffer(small) + PAGE - 2) / PAGE) * PAGE - addressOfBuffer(small)));
    ws.close();
  });

  it('tracking the same memory twice is a clear error (EBUSY) under every mechanism, and the first keeps working', () => {
    const sab = new SharedArrayBuffer(MiB);
    const ww = track(sab);
    // Windows' write-protect tracks nothing (test/22.windows.test.ts), nor does it where the kernel
    // lacks it (the feature gate's kernels): compare alone collides there.
    for (const m of process.platform === 'win32' || !kernel.supported ? (['compare'] as const) : (['write-protect', 'compare'] as const)) {
      let err: unknown;
      try {
        WriteWatch.track(new Uint8Array(sab, 8 * PAGE, 4 * PAGE), { mechanism: m });
      } catch (e) {
        err = e;
      }
      expect(err, `${mechanism} then ${m}`).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', cause: { code: 'EBUSY' } });
      expect(String((err as Error).message)).toMatch(/already tracked/);
    }
    new Uint8Array(sab)[9 * PAGE] = 1;
    expectReported(ww.get(), expectedPages(ww, [9 * PAGE]), edgesOf(addressOfBuffer(sab), ww.tracked, PAGE));
  });

  it('a buffer transferred away while tracked is ERR_WRITEWATCH_LOST, not an answer', () => {
    const ab = new ArrayBuffer(MiB);
    const ww = track(ab);
    new Uint8Array(ab)[500_000] = 1;
    const moved = structuredClone(ab, { transfer: [ab] });
    for (const call of [() => ww.get(), () => ww.getInto(new Float64Array(8)), () => ww.ranges(), () => ww.reset()]) {
      expect(call).toThrow(expect.objectContaining({ code: 'ERR_WRITEWATCH_LOST' }));
    }
    expect(moved.byteLength).toBe(MiB);
  });
});
