// An emulator-style guest framebuffer: the guest (guest.wasm, source in guest.wat) draws into a
// 1024x256 RGBA framebuffer inside its WebAssembly.Memory; the host redraws only the rows whose
// pages the guest wrote since the last frame, instead of copying the whole 1 MiB every frame.
// A row is 1024 * 4 = 4096 bytes, one page, so a written page is exactly a dirty row.
//
//   installed:  node node_modules/writewatch/examples/framebuffer/index.mjs [frames]
//   in a clone: npm run build && node examples/framebuffer/index.mjs [frames]
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { WriteWatch } from 'writewatch';

const FB = 0x10000;
const WIDTH = 1024;
const HEIGHT = 256;
const ROW = WIDTH * 4;
const frames = Number(process.argv[2] ?? 12);

const memory = new WebAssembly.Memory({ initial: 17, maximum: 17 });
const module = new WebAssembly.Module(readFileSync(new URL('guest.wasm', import.meta.url)));
const guest = new WebAssembly.Instance(module, { env: { memory } }).exports;

// The memory cannot grow past 17 wasm pages: arm only those (not wasm32's 4 GiB).
const ww = WriteWatch.track(memory, { maxByteLength: 17 * 65536 });
if (ww.granularity !== ROW) {
  console.log(`page size ${ww.granularity}: rows are grouped by page`);
}

const screen = new Uint8Array(WIDTH * HEIGHT * 4); // the host's copy ("the GPU texture")
const guestFb = () => new Uint8Array(memory.buffer, FB, screen.length);
const state = () => new Int32Array(memory.buffer, 0, 5);

/** Copies the dirty rows of the framebuffer to the screen; returns them as "a-b" runs. */
function present() {
  const runs = [];
  let rows = 0;
  // Only the framebuffer: the guest's own state (page 0) is written every frame too.
  for (const { offset, length } of ww.ranges({ offset: FB, length: screen.length, reset: true })) {
    const first = (offset - FB) / ROW;
    const last = Math.ceil((offset - FB + length) / ROW) - 1;
    screen.set(new Uint8Array(memory.buffer, offset, length), offset - FB);
    runs.push(first === last ? `${first}` : `${first}-${last}`);
    rows += last - first + 1;
  }
  return { runs, rows };
}

guest.init(100, 40, 24, 8);
let total = 0;
for (let f = 0; f <= frames; f++) {
  if (f > 0) guest.step();
  const [x, y] = state();
  const { runs, rows } = present();
  total += rows;
  console.log(`frame ${String(f).padStart(2)}: box at (${x},${y}) redraw rows ${runs.join(',')} (${rows}/${HEIGHT} rows)`);
}

const same = Buffer.compare(Buffer.from(screen), Buffer.from(guestFb())) === 0;
const hash = (b) => createHash('sha256').update(b).digest('hex').slice(0, 16);
console.log(`copied ${total} rows (${(total * ROW) >> 10} KiB) for ${frames + 1} frames; full redraws would copy ${(frames + 1) * HEIGHT} rows (${((frames + 1) * screen.length) >> 10} KiB)`);
console.log(`screen sha256 ${hash(screen)} guest framebuffer sha256 ${hash(guestFb())}: ${same ? 'identical' : 'DIFFERENT'}`);

// A 64x16 thumbnail of the host's screen: '#' box, '.' background, '*' progress pixels.
for (let ty = 0; ty < 16; ty++) {
  let line = '';
  for (let tx = 0; tx < 64; tx++) {
    let ch = '.';
    for (let yy = ty * 16; yy < ty * 16 + 16 && ch === '.'; yy++) {
      for (let xx = tx * 16; xx < tx * 16 + 16; xx++) {
        const p = (yy * WIDTH + xx) * 4;
        if (screen[p] === 0xff && screen[p + 1] === 0xff && screen[p + 2] === 0xff) { ch = '*'; break; }
        if (screen[p] !== 0x08 || screen[p + 1] !== 0x10 || screen[p + 2] !== 0x20) { ch = '#'; break; }
      }
    }
    line += ch;
  }
  console.log(`  |${line}|`);
}
ww.close(); // unregisters; the memory stays the guest's
process.exitCode = same ? 0 : 1;
