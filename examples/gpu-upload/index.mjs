// A game-engine pattern: vertex and texture data live in a SharedArrayBuffer that a worker
// animates; each frame the render thread uploads only the ranges written since the last frame
// (gl.bufferSubData / texSubImage2D), coalesced, instead of the whole 6 MiB.
//
//   installed:  node node_modules/writewatch/examples/gpu-upload/index.mjs [frames]
//   in a clone: npm run build && node examples/gpu-upload/index.mjs [frames]
import { Worker } from 'node:worker_threads';
import { WriteWatch } from 'writewatch';
import { SIZE, TEXTURE, VERTEX_BYTES, TEX_WIDTH } from './layout.mjs';

const frames = Number(process.argv[2] ?? 8);
const KiB = (n) => `${n >> 10} KiB`;

// maxByteLength makes V8 reserve (and page-align) the buffer; a plain SharedArrayBuffer starts 16
// bytes into a page, and its partial first and last pages could not be tracked.
const sab = new SharedArrayBuffer(SIZE, { maxByteLength: SIZE });
const control = new SharedArrayBuffer(8);
const ctl = new Int32Array(control);
const ww = WriteWatch.track(sab);
const gpu = new Uint8Array(SIZE); // stands for the GPU's copy of the buffers
const cpu = new Uint8Array(sab);

function describe({ offset, length }) {
  const end = offset + length;
  const parts = [];
  if (offset < TEXTURE) {
    const e = Math.min(end, TEXTURE);
    parts.push(`vertices ${offset / VERTEX_BYTES}-${Math.ceil(e / VERTEX_BYTES) - 1}`);
  }
  if (end > TEXTURE) {
    const s = Math.max(offset, TEXTURE) - TEXTURE;
    parts.push(`texture rows ${s / (TEX_WIDTH * 4)}-${(end - TEXTURE) / (TEX_WIDTH * 4) - 1}`);
  }
  return `${parts.join(' + ')} (${KiB(length)})`;
}

/** Uploads what was written since the last frame; returns the bytes uploaded. */
function upload(frame) {
  const ranges = ww.ranges({ reset: true });
  let bytes = 0;
  for (const r of ranges) {
    gpu.set(cpu.subarray(r.offset, r.offset + r.length), r.offset); // bufferSubData(target, r.offset, ...)
    bytes += r.length;
  }
  console.log(`frame ${frame}: ${ranges.length} uploads, ${KiB(bytes)} of ${KiB(SIZE)}: ${ranges.map(describe).join(', ') || 'nothing'}`);
  return bytes;
}

const worker = new Worker(new URL('animator.mjs', import.meta.url), { workerData: { sab, control } });
try {
  // Frame 0: the initial upload of everything, then tracking starts from a clean slate.
  gpu.set(cpu);
  ww.reset();
  console.log(`frame 0: initial upload of ${KiB(SIZE)}`);
  let total = 0;
  for (let f = 1; f <= frames; f++) {
    Atomics.store(ctl, 0, f);
    Atomics.notify(ctl, 0);
    if (Atomics.wait(ctl, 1, f - 1, 10_000) === 'timed-out') throw new Error('the animator worker did not answer');
    total += upload(f);
  }
  const same = Buffer.compare(Buffer.from(gpu), Buffer.from(cpu)) === 0;
  console.log(`uploaded ${KiB(total)} in ${frames} frames instead of ${KiB(frames * SIZE)} (${((100 * total) / (frames * SIZE)).toFixed(1)}%)`);
  console.log(`GPU copy matches the shared buffer: ${same ? 'yes' : 'NO'}`);
  process.exitCode = same ? 0 : 1;
} finally {
  Atomics.store(ctl, 0, -1);
  Atomics.notify(ctl, 0);
  ww.close();
}
