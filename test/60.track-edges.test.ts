/**
 * track() at its edges (issue 9, cases 7 and 9; issue 10's size limit):
 * - `maxByteLength` past the target's reservation (2^46 on a WebAssembly.Memory) is clamped: no page
 *   outside the memory's own reservation is registered (it registered up to the next gap in
 *   /proc/self/maps, into whatever V8 or malloc mapped next);
 * - one cross-realm rule: a node:vm ArrayBuffer, SharedArrayBuffer or Memory is tracked like this
 *   realm's (they were refused while a vm Uint8Array was accepted);
 * - memory that can change without a store through this mapping (MAP_SHARED, shmem, a file
 *   mapping) is refused with ERR_INVALID_ARG_VALUE: its other writers would never be reported;
 * - above 4 GiB where Node allows it (22+): a 5 GiB resizable ArrayBuffer, which V8 reserves with
 *   MAP_NORESERVE, so only the pages written need RAM.
 */
import { constants } from 'node:buffer';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import koffi from 'koffi';
import { afterEach, expect, it } from 'vitest';
import { codeOf } from './support/errors.js';
import { edgesOf, expectReported } from './support/edges.js';
import { WriteWatch } from '../src/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

const GiB = 2 ** 30;
const open: WriteWatch[] = [];
afterEach(() => {
  for (const ww of open.splice(0)) ww.close();
});
const track = (...args: Parameters<typeof WriteWatch.track>) => {
  const ww = WriteWatch.track(...args);
  open.push(ww);
  return ww;
};

/** Every [start, end) the kernel has registered for uffd-wp in this process (smaps VmFlags "uw"). */
function registered(): [number, number][] {
  const out: [number, number][] = [];
  let range: [number, number] | null = null;
  for (const line of readFileSync('/proc/self/smaps', 'latin1').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (head) range = [parseInt(head[1], 16), parseInt(head[2], 16)];
    else if (line.startsWith('VmFlags:') && / uw\b/.test(line) && range) out.push(range);
  }
  return out;
}


describeKernel('60 track: maxByteLength never registers past the target\'s reservation', () => {
  it('a WebAssembly.Memory with maxByteLength 2^46: registered [base, base + 4 GiB) and nothing else', () => {
    expect(registered()).toEqual([]); // nothing else of this file is tracked now
    const memory = new WebAssembly.Memory({ initial: 1 });
    const ww = track(memory, { maxByteLength: 2 ** 46 });
    const base = Number(ww.address);
    const regs = registered();
    const lo = Math.min(...regs.map((r) => r[0]));
    const hi = Math.max(...regs.map((r) => r[1]));
    // V8 reserves 8 GiB past byte 0 (more for shared and memory64 memories): [base, base + 4 GiB)
    // is the memory's own on every Node 20-26; whatever lies past the reservation is not touched.
    expect([lo - base, hi - base]).toEqual([0, 4 * GiB]);
    // Still exact inside: a grow and a write in the grown part.
    memory.grow(2);
    new Uint8Array(memory.buffer)[65536 + 5] = 1;
    expect(ww.get()).toEqual([65536]);
  });

  it('the default (no option) registers the same 4 GiB, and a smaller maxByteLength less', () => {
    const a = new WebAssembly.Memory({ initial: 1 });
    const ww = track(a);
    const span = (w: WriteWatch) => {
      const regs = registered();
      return Math.max(...regs.map((r) => r[1])) - Number(w.address);
    };
    expect(span(ww)).toBe(4 * GiB);
    ww.close();
    open.length = 0;
    const small = track(a, { maxByteLength: 4 * 65536 });
    expect(span(small)).toBe(4 * 65536);
  });

  it('a resizable ArrayBuffer: maxByteLength 2^46 is clamped to its own maxByteLength', () => {
    const ab = new (ArrayBuffer as any)(4 * PAGE, { maxByteLength: 64 * PAGE }) as ArrayBuffer;
    const ww = track(ab, { maxByteLength: 2 ** 46 });
    const regs = registered();
    expect(Math.max(...regs.map((r) => r[1])) - Number(ww.address)).toBe(64 * PAGE);
  });
});

/** A Memory's current length plus 3 wasm pages: what the vm Memory below can grow to. */
const ww_max = (m: { buffer: ArrayBuffer }) => m.buffer.byteLength + 3 * 65536;

describeKernel('60 track: one rule for every realm', () => {
  const ctx = vm.createContext({});
  for (const [name, src] of [
    ['ArrayBuffer', `new ArrayBuffer(${64 * PAGE})`],
    ['SharedArrayBuffer', `new SharedArrayBuffer(${64 * PAGE})`],
    ['resizable ArrayBuffer', `new ArrayBuffer(${16 * PAGE}, { maxByteLength: ${64 * PAGE} })`],
    ['WebAssembly.Memory', `new WebAssembly.Memory({ initial: ${Math.ceil((8 * PAGE) / 65536)}, maximum: ${Math.ceil((8 * PAGE) / 65536) + 3} })`],
    ['Float64Array', `new Float64Array(${(64 * PAGE) / 8})`],
    ['Uint8Array', `new Uint8Array(${64 * PAGE})`],
    ['DataView', `new DataView(new ArrayBuffer(${64 * PAGE}))`],
  ]) {
    it(`a node:vm ${name} is tracked like this realm's`, () => {
      const target = vm.runInContext(src, ctx);
      const ww = track(target, name === 'WebAssembly.Memory' ? { maxByteLength: ww_max(target) } : {});
      const u8 = new Uint8Array(ww.buffer);
      const at = 2 * PAGE + 3; // inside the tracked whole pages of every target above, whatever the page size
      u8[at] = 1;
      const page = Math.floor((Number(ww.address) + at) / PAGE) * PAGE - Number(ww.address);
      // A plain buffer's first and last pages may be partly a neighbour's (malloc'd backing store):
      // those two may also be reported for the neighbour's writes, never a written page missed.
      expectReported(ww.get(), [page], edgesOf(Number(ww.address), ww.tracked, PAGE));
    });
  }
  it('what is no memory in any realm is still ERR_INVALID_ARG_TYPE', () => {
    for (const v of [vm.runInContext('({})', ctx), vm.runInContext('[1, 2]', ctx), {}, 5]) {
      expect(codeOf(() => track(v as ArrayBuffer))).toBe('ERR_INVALID_ARG_TYPE');
    }
  });
});

const lib = koffi.load('libc.so.6');
const mmap = lib.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)');
const munmap = lib.func('int munmap(void *addr, size_t length)');
const PROT_RW = 3;
const MAP_SHARED = 0x01;
const MAP_PRIVATE = 0x02;
const MAP_ANONYMOUS = 0x20;

describeKernel('60 track: memory that changes without a store through this mapping is refused', () => {
  const LEN = 16 * PAGE;
  const mapped: unknown[] = [];
  afterEach(() => {
    for (const p of mapped.splice(0)) munmap(p, LEN);
  });
  const view = (flags: number, fd = -1) => {
    const p = mmap(null, LEN, PROT_RW, flags, fd, 0);
    expect(koffi.address(p)).not.toBe(0xffffffffffffffffn);
    mapped.push(p);
    return koffi.view(p, LEN) as ArrayBuffer;
  };

  it('MAP_SHARED | MAP_ANONYMOUS (shmem): ERR_INVALID_ARG_VALUE naming the mapping', () => {
    const ab = view(MAP_SHARED | MAP_ANONYMOUS);
    let err: any;
    try {
      track(ab);
    } catch (e) {
      err = e;
    }
    expect(err?.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(err?.message).toMatch(/rw-s/);
    expect(registered()).toEqual([]);
  });

  it('a file mapped MAP_SHARED, and one mapped MAP_PRIVATE (write(2) to the file shows through): refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ww-shared-'));
    try {
      const fd = openSync(join(dir, 'f'), 'w+');
      writeSync(fd, Buffer.alloc(LEN));
      for (const flags of [MAP_SHARED, MAP_PRIVATE]) {
        const ab = view(flags, fd);
        expect(codeOf(() => track(ab))).toBe('ERR_INVALID_ARG_VALUE');
      }
      closeSync(fd);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('negative control: the same koffi.view over MAP_PRIVATE | MAP_ANONYMOUS memory is tracked', () => {
    const ab = view(MAP_PRIVATE | MAP_ANONYMOUS);
    const ww = track(ab);
    new Uint8Array(ab)[3 * PAGE] = 1;
    expect(ww.get()).toEqual([3 * PAGE]);
  });
});

describeKernel('60 track: above 4 GiB where Node allows it', () => {
  it.skipIf(constants.MAX_LENGTH < 5 * GiB)(
    `a 5 GiB resizable ArrayBuffer (MAP_NORESERVE: no RAM needed; Node ${process.versions.node}, MAX_LENGTH ${constants.MAX_LENGTH})`,
    () => {
      const ab = new (ArrayBuffer as any)(5 * GiB, { maxByteLength: 5 * GiB }) as ArrayBuffer;
      const ww = track(ab);
      expect(ww.byteLength).toBe(5 * GiB);
      const u8 = new Uint8Array(ab);
      const at = 4.5 * GiB + 7 * PAGE + 1;
      u8[at] = 1;
      u8[3] = 1;
      expect(ww.get({ reset: true })).toEqual([0, at - 1]);
      expect(ww.get()).toEqual([]);
    },
  );

  it.skipIf(constants.MAX_LENGTH >= 5 * GiB)(
    `Node ${process.versions.node} cannot make an ArrayBuffer past buffer.constants.MAX_LENGTH (${constants.MAX_LENGTH}): nothing above 4 GiB to track`,
    () => {
      expect(() => new (ArrayBuffer as any)(5 * GiB, { maxByteLength: 5 * GiB })).toThrow(RangeError);
    },
  );
});
