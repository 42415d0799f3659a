/**
 * Child process for test/10.writewatch-native-writers and test/20.win32.native-writers: native code
 * (Node's thread pool) writes into library memory while it is closed / released. Run with
 * --expose-gc: `node --expose-gc native-writer.mjs <ww|win32> <randomFill|fifo> [MiB]`.
 * Prints one JSON line; a SIGSEGV shows as the child's signal.
 *
 * - randomFill: crypto.randomFill over the whole buffer, close() on the same tick.
 * - fifo: fs.read from a FIFO into the buffer; the pool thread holds the pointer, blocked in read(2),
 *   until the data is written, which happens only after close(): the late write is certain, not a
 *   race. Before writing, the child tries to map a page at the old address (MAP_FIXED_NOREPLACE), as
 *   any later mmap of someone else's could land there.
 */
import { execFileSync } from 'node:child_process';
import { randomFill } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, read, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import { WriteWatch } from 'writewatch';
import * as w from 'writewatch/win32';
import { heldMappings as heldWw } from '../../dist/memory/mapping.js';
import { heldAllocations } from '../../dist/win32/process/views.js';

const [api, op, mib = '256'] = process.argv.slice(2);
/** Released memory still held for a view: win32 allocations are the process's table's, WriteWatch's are Mappings. */
const heldMappings = () => (api === 'win32' ? heldAllocations() : heldWw());
const bytes = Number(mib) * 2 ** 20;
const lib = koffi.load('libc.so.6');
const mmap = lib.func('void *mmap(uintptr_t addr, size_t length, int prot, int flags, int fd, int64_t offset)');
const munmap = lib.func('int munmap(void *addr, size_t length)');
const PROT_RW = 3;
const MAP_PRIVATE_ANON = 0x22;
const MAP_FIXED_NOREPLACE = 0x100000;
const PAGE = Number(lib.func('long sysconf(int)')(30));

/** Tries to map one page exactly at `addr`: 'EEXIST' while the range is still ours, else the mapping. */
function claim(addr) {
  const p = mmap(addr, PAGE, PROT_RW, MAP_PRIVATE_ANON | MAP_FIXED_NOREPLACE, -1, 0);
  const got = p === null ? -1n : koffi.address(p);
  if (got === 0xffffffffffffffffn) return { errno: koffi.errno() === 17 ? 'EEXIST' : koffi.errno() };
  if (got !== BigInt(addr)) {
    munmap(p, PAGE); // a kernel that ignores NOREPLACE treats it as a hint
    return { errno: 'EEXIST' };
  }
  return { pointer: p };
}

/** Makes the memory and returns [address, a Uint8Array over it, close]. */
function make() {
  if (api === 'ww') {
    const ww = WriteWatch.allocate(bytes);
    return [Number(ww.address), new Uint8Array(ww.buffer), () => ww.close()];
  }
  const base = w.virtualAlloc(0n, bytes, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
  if (base === 0n) throw new Error(`virtualAlloc: ${w.getLastError()}`);
  return [Number(base), new Uint8Array(w.viewMemory(base, bytes)), () => {
    if (!w.virtualFree(base, 0, w.MEM_RELEASE)) throw new Error(`virtualFree: ${w.getLastError()}`);
  }];
}

/** Collects garbage and runs FinalizationRegistry callbacks. */
async function settle() {
  for (let i = 0; i < 5; i++) {
    globalThis.gc();
    await new Promise((r) => setImmediate(r));
  }
}

const out = { api, op };
if (op === 'randomFill') {
  // Three rounds: each closes while the pool is filling 256 MiB (or has not started yet).
  const results = [];
  for (let round = 0; round < 3; round++) {
    const [addr, u8, close] = make();
    const done = new Promise((resolve) => randomFill(u8, (err) => resolve(err ? err.code ?? String(err) : null)));
    close();
    const during = claim(addr);
    if (during.pointer) munmap(during.pointer, PAGE);
    const err = await done;
    results.push({ err, claimWhileFilling: during.errno ?? 'mapped', lengthAfter: u8.length });
  }
  out.results = results;
} else if (op === 'fifo') {
  const dir = mkdtempSync(join(tmpdir(), 'ww-fifo-'));
  const fifo = join(dir, 'f');
  execFileSync('mkfifo', [fifo]);
  const fd = openSync(fifo, 'r+'); // O_RDWR on a FIFO: opens without a peer, and both ends are ours
  const result = await (async () => {
    const [addr, u8, close] = make();
    const done = new Promise((resolve) => read(fd, u8, 0, PAGE, null, (err, n) => resolve({ err: err?.code ?? null, n })));
    close();
    const during = claim(addr);
    writeSync(fd, Buffer.alloc(PAGE, 0x5a)); // now the blocked read(2) copies into the old address
    const { err, n } = await done;
    let landedInNewcomer = null;
    if (during.pointer) {
      // Today's bug: the newcomer's page received the late write.
      landedInNewcomer = new Uint8Array(koffi.view(during.pointer, PAGE))[0] === 0x5a;
      munmap(during.pointer, PAGE);
    }
    return { addr, err, n, claimBeforeData: during.errno ?? 'mapped', landedInNewcomer };
  })();
  closeSync(fd);
  rmSync(dir, { recursive: true });
  Object.assign(out, result);
  delete out.addr;
  out.heldBeforeCollection = heldMappings();
  await settle();
  // Once every view is collected the placeholder goes. (Counted by the library rather than by
  // mapping the address again: something else may take a freed address first.)
  out.heldAfterCollection = heldMappings();
}
console.log(JSON.stringify(out));
