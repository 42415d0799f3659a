// Save states for a large heap of state: snapshot 0 writes the whole memory, every later snapshot
// writes only the pages written since the one before, and restoring the chain gives back the
// exact bytes. The heap is a 64 MiB WebAssembly.Memory (an emulator's guest RAM) that also grows
// by a quarter halfway through; the workload is a toy game loop: a hot stack page, scattered
// object updates, an append-only event log, and one big level load.
//
//   installed:  node node_modules/writewatch/examples/incremental-snapshot/index.mjs [directory] [ticks] [MiB]
//   in a clone: npm run build && node examples/incremental-snapshot/index.mjs [directory] [ticks] [MiB]
//
// MiB (default 64, a multiple of 16) scales the memory and every region of the workload with it:
// a slow or emulated machine runs the same example on less memory.
//
// Snapshot file: "WWSNAP1\0", u32 seq, u32 byteLength (of the memory at that time), u32 runs,
// then per run u32 offset, u32 length, and the bytes.
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WriteWatch } from 'writewatch';

const WASM_PAGE = 65536;
const dir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'writewatch-snapshots-'));
const ticks = Number(process.argv[3] ?? 16);
const size = Number(process.argv[4] ?? 64) << 20;
if (!(size >= 16 << 20 && size % (16 << 20) === 0)) throw new RangeError('MiB must be a multiple of 16');
mkdirSync(dir, { recursive: true });
for (const f of readdirSync(dir)) if (f.endsWith('.snap')) rmSync(join(dir, f));

const initial = size / WASM_PAGE, maximum = initial + initial / 4; // grows by a quarter at the level load
const memory = new WebAssembly.Memory({ initial, maximum });
const ww = WriteWatch.track(memory, { maxByteLength: maximum * WASM_PAGE });
const sha = (bytes) => createHash('sha256').update(bytes).digest('hex').slice(0, 16);
const MiB = (n) => (n / 1048576).toFixed(2) + ' MiB';

// Deterministic pseudo-random numbers, so every run writes the same bytes.
let seed = 0x2545f491;
const rand = (n) => {
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
  return (seed >>> 0) % n;
};

let logEnd = (size / 4) * 3; // the event log grows upward from three quarters of the memory (48 MiB of 64)
function tick(t) {
  const heap = new DataView(memory.buffer);
  for (let i = 0; i < 256; i++) heap.setUint32(i * 4, t * 1000 + i, true); // hot "stack" page
  for (let i = 0; i < 300; i++) heap.setFloat64(rand((size / 8) * 5) & ~7, t + i / 1000, true); // objects in the first 5/8 (40 MiB of 64)
  for (let i = 0; i < 64; i++, logEnd += 24) heap.setUint32(logEnd, t * 64 + i, true); // event log
  if (t === ticks >> 1) {
    // Level load: the memory grows by a quarter (16 MiB of 64) and half of the new part is filled.
    const old = memory.grow(initial / 4) * WASM_PAGE;
    new Uint8Array(memory.buffer, old, size / 8).fill(t & 0xff);
  }
}

/** Writes the pages written since the last snapshot (all of them for snapshot 0); returns the bytes written. */
function snapshot(seq) {
  // get-and-reset in one kernel walk: a write racing with it lands in this snapshot or the next.
  const runs = seq === 0 ? [{ offset: 0, length: memory.buffer.byteLength }] : ww.ranges({ reset: true });
  if (seq === 0) ww.reset();
  const bytes = new Uint8Array(memory.buffer);
  const fd = openSync(join(dir, `${String(seq).padStart(4, '0')}.snap`), 'w');
  try {
    const header = Buffer.alloc(20 + runs.length * 8);
    header.write('WWSNAP1\0', 0, 'latin1');
    header.writeUInt32LE(seq, 8);
    header.writeUInt32LE(bytes.byteLength, 12);
    header.writeUInt32LE(runs.length, 16);
    runs.forEach((r, i) => {
      header.writeUInt32LE(r.offset, 20 + i * 8);
      header.writeUInt32LE(r.length, 24 + i * 8);
    });
    let written = writeSync(fd, header);
    for (const r of runs) written += writeSync(fd, bytes, r.offset, r.length);
    return { runs: runs.length, written };
  } finally {
    closeSync(fd);
  }
}

/** Replays snapshots 0..upTo onto fresh memory. */
function restore(upTo) {
  let image = new Uint8Array(0);
  for (let seq = 0; seq <= upTo; seq++) {
    const file = readFileSync(join(dir, `${String(seq).padStart(4, '0')}.snap`));
    if (file.toString('latin1', 0, 8) !== 'WWSNAP1\0' || file.readUInt32LE(8) !== seq) throw new Error(`bad snapshot ${seq}`);
    const length = file.readUInt32LE(12);
    if (length !== image.length) {
      const grown = new Uint8Array(length);
      grown.set(image.subarray(0, Math.min(length, image.length)));
      image = grown;
    }
    const n = file.readUInt32LE(16);
    let at = 20 + n * 8;
    for (let i = 0; i < n; i++) {
      const offset = file.readUInt32LE(20 + i * 8);
      const len = file.readUInt32LE(24 + i * 8);
      image.set(file.subarray(at, at + len), offset);
      at += len;
    }
  }
  return image;
}

const hashes = [];
let incremental = 0;
let full = 0;
let count = 0;
for (let seq = 0; seq <= ticks; seq++) {
  if (seq > 0) tick(seq);
  const length = memory.buffer.byteLength;
  const { runs, written } = snapshot(seq);
  hashes.push(sha(new Uint8Array(memory.buffer)));
  if (seq > 0) {
    incremental += written;
    full += length;
    count++;
  }
  const pct = ((100 * written) / length).toFixed(seq === 0 ? 0 : 2);
  console.log(`snapshot ${String(seq).padStart(2)}: ${String(runs).padStart(3)} runs, ${MiB(written).padStart(9)} written of ${MiB(length)} (${pct}%)  state ${hashes[seq]}`);
}
ww.close();

console.log(`incremental snapshots: ${count}, average ${MiB(incremental / count)} each, ${MiB(incremental)} in all; full copies would be ${MiB(full)} (${((100 * incremental) / full).toFixed(1)}%)`);
let ok = true;
for (const k of [0, ticks >> 1, ticks]) {
  const got = sha(restore(k));
  ok &&= got === hashes[k];
  console.log(`restore 0..${k}: ${got} ${got === hashes[k] ? '==' : '!='} state at snapshot ${k} ${hashes[k]}`);
}
const exact = Buffer.compare(Buffer.from(restore(ticks)), Buffer.from(memory.buffer)) === 0;
console.log(`restored chain is byte-exact: ${exact ? 'yes' : 'NO'} (${dir})`);
if (process.argv[2] === undefined) rmSync(dir, { recursive: true });
process.exitCode = ok && exact ? 0 : 1;
