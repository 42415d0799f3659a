/**
 * `writewatch demo`: a ball bouncing in a framebuffer that lives in WriteWatch memory. Each frame
 * erases the ball, draws it at its new place, then asks `get({ reset: true })` which pages were
 * written. The page map must light exactly the pixel rows the ball left and entered; the demo
 * checks that against the byte spans it actually wrote and fails (exit 1) on any difference.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { WriteWatch } from '../writewatch/write-watch.js';

export const usage = 'writewatch demo [--frames N] [--delay MS] [--no-color]   a bouncing ball, its written pages per frame';

/** `writewatch help demo` and `demo --help`. */
export const help = `usage: ${usage}

Tracking at work: a ball bounces in a 256x192 framebuffer of 32-bit pixels (48 pages of 4 KiB,
4 pixel rows per page) in WriteWatch.allocate memory. Each frame erases the ball, redraws it and
calls get({ reset: true }); the page map (# written, . clean) lights exactly the pages of the rows
the ball left and entered. Every frame is checked against the bytes it wrote.

  --frames N   frames to draw (default 100 on a terminal, 12 otherwise)
  --delay MS   pause between frames (default 40 on a terminal, 0 otherwise)
  --no-color   plain characters (also when NO_COLOR is set or stdout is not a terminal)

When stdout is not a terminal it prints one plain line per frame.
Exit status: 0 every frame reported exactly the pages written, 1 a frame differed or tracking is
unavailable here (run writewatch probe), 2 a wrong command line.`;

/** 256 x 192 pixels of 32 bits: 1 KiB per row, so a 4 KiB page holds 4 rows and a frame 48 pages. */
const W = 256;
const H = 192;
const STRIDE = W * 4;
const R = 14;
/** Text cell of the ASCII rendering: 64 x 24 characters. */
const CW = 4;
const CH = 8;

interface Options {
  frames: number;
  delay: number;
  color: boolean;
  tty: boolean;
}

export async function run(args: string[]): Promise<number> {
  const opts = parse(args);
  if (typeof opts === 'number') return opts;
  const ww = WriteWatch.allocate(W * H * 4);
  const restore = opts.tty ? hideCursor() : () => {};
  try {
    return await animate(ww, opts);
  } finally {
    restore();
    ww.close();
  }
}

function parse(args: string[]): Options | number {
  const tty = process.stdout.isTTY === true;
  const o: Options = { frames: tty ? 100 : 12, delay: tty ? 40 : 0, color: tty && !process.env.NO_COLOR, tty };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--no-color') o.color = false;
    else if (a === '--frames' || a === '--delay') {
      const v = Number(args[++i]);
      const min = a === '--frames' ? 1 : 0;
      if (!Number.isSafeInteger(v) || v < min || v > 1e6) {
        process.stderr.write(`writewatch demo: ${a} needs an integer >= ${min}\nusage: ${usage}\n`);
        return 2;
      }
      if (a === '--frames') o.frames = v;
      else o.delay = v;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(`${help}\n`);
      return 0;
    } else {
      process.stderr.write(`writewatch demo: unknown option ${a}\nusage: ${usage}\n`);
      return 2;
    }
  }
  return o;
}

function hideCursor(): () => void {
  process.stdout.write('\x1b[?25l');
  const onSigint = () => {
    process.stdout.write('\x1b[?25h\n');
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  return () => {
    process.off('SIGINT', onSigint);
    process.stdout.write('\x1b[?25h');
  };
}

interface Ball {
  x: number;
  y: number;
  vx: number;
  vy: number;
}

async function animate(ww: WriteWatch, o: Options): Promise<number> {
  const page = ww.granularity;
  const pages = ww.byteLength / page;
  const px = new Uint32Array(ww.buffer, 0, W * H);
  const written = new Uint8Array(pages); // what the demo itself wrote this frame: the expectation
  const ball: Ball = { x: 60, y: 40, vx: 7, vy: 5 };
  let prev: { x: number; y: number } | null = null;
  let mismatches = 0;
  let totalScanUs = 0;
  let lines = 0;

  const header =
    `writewatch demo: ${W}x${H} framebuffer of 32-bit pixels = ${ww.byteLength} bytes = ${pages} pages of ${page} bytes, ` +
    `${STRIDE} bytes per pixel row\nball radius ${R}; each frame erases it, redraws it, then get({ reset: true })\n`;
  process.stdout.write(header);

  for (let f = 1; f <= o.frames; f++) {
    written.fill(0);
    const bx = Math.round(ball.x);
    const by = Math.round(ball.y);
    if (prev) disc(px, written, page, prev.x, prev.y, 0);
    disc(px, written, page, bx, by, 0xff000000 | ((f * 0x0b1d2f) & 0xffffff));

    const t0 = process.hrtime.bigint();
    const got = ww.get({ reset: true });
    const us = Number(process.hrtime.bigint() - t0) / 1000;
    totalScanUs += us;

    const dirty = new Uint8Array(pages);
    for (const off of got) dirty[off / page] = 1;
    const ok = dirty.every((d, i) => d === written[i]);
    if (!ok) mismatches++;

    const rows = `rows ${by - R}..${by + R}`;
    const prevRows = prev ? `prev ${prev.y - R}..${prev.y + R}` : 'prev -';
    const stats =
      `frame ${String(f).padStart(3)}/${o.frames}  ball x=${String(bx).padStart(3)} y=${String(by).padStart(3)}  ` +
      `${rows.padEnd(14)} ${prevRows.padEnd(14)} written ${String(got.length).padStart(2)}/${pages} pages  ` +
      `scan ${us.toFixed(0).padStart(4)} µs  ${ok ? 'expected: match' : 'expected: MISMATCH'}`;
    const map = `pages ${pageMap(dirty, o.color)}`;

    if (o.tty) {
      const showArt = (process.stdout.rows ?? 0) >= H / CH + 8 && (process.stdout.columns ?? 0) >= W / CW + 12;
      const text = [...(showArt ? art(px, dirty, page, o.color) : []), map, stats].join('\n') + '\n';
      // Redraw in place: move up over the previous frame's lines, clearing each.
      process.stdout.write((lines ? `\x1b[${lines}A` : '') + text.replace(/\n/g, '\x1b[K\n'));
      lines = text.split('\n').length - 1;
      if (o.delay) await sleep(o.delay);
    } else {
      // Not a terminal (a pipe, CI, a test): no cursor movement; the picture only for the last frame.
      const out = [stats, map];
      if (f === o.frames) out.push(...art(px, dirty, page, o.color));
      process.stdout.write(out.join('\n') + '\n');
      if (o.delay) await sleep(o.delay);
    }

    prev = { x: bx, y: by };
    step(ball);
  }
  const avg = totalScanUs / o.frames;
  process.stdout.write(
    `${o.frames} frames, average get({ reset: true }) ${avg.toFixed(1)} µs over ${pages} pages; ` +
      (mismatches === 0 ? 'every frame reported exactly the pages written\n' : `${mismatches} frame(s) MISMATCHED\n`),
  );
  return mismatches === 0 ? 0 : 1;
}

/** Moves the ball, bouncing so that it always lies wholly inside the frame. */
function step(b: Ball): void {
  b.x += b.vx;
  b.y += b.vy;
  if (b.x - R < 0 || b.x + R >= W) {
    b.vx = -b.vx;
    b.x = Math.min(Math.max(b.x, R), W - 1 - R);
  }
  if (b.y - R < 0 || b.y + R >= H) {
    b.vy = -b.vy;
    b.y = Math.min(Math.max(b.y, R), H - 1 - R);
  }
}

/** Fills a disc with `color` (0 erases) and marks in `written` every page the stores touched. */
function disc(px: Uint32Array, written: Uint8Array, page: number, cx: number, cy: number, color: number): void {
  for (let dy = -R; dy <= R; dy++) {
    const y = cy + dy;
    const hw = Math.floor(Math.sqrt(R * R - dy * dy));
    const x0 = Math.max(cx - hw, 0);
    const x1 = Math.min(cx + hw, W - 1);
    px.fill(color >>> 0, y * W + x0, y * W + x1 + 1);
    const first = (y * STRIDE + x0 * 4) / page;
    const last = (y * STRIDE + x1 * 4 + 3) / page;
    for (let p = Math.floor(first); p <= Math.floor(last); p++) written[p] = 1;
  }
}

/** One character per page: '#' written, '.' clean; in color, one escape sequence per run. */
function pageMap(dirty: Uint8Array, color: boolean): string {
  const plain = Array.from(dirty, (d) => (d ? '#' : '.')).join('');
  if (!color) return plain;
  return plain.replace(/#+|\.+/g, (run) => (run[0] === '#' ? `\x1b[1;31m${run}\x1b[0m` : `\x1b[2m${run}\x1b[0m`));
}

/**
 * The framebuffer as text, one character per CW x CH pixels, with the pages whose first byte lies
 * in that band of rows printed to the right: the written ones sit beside the ball's old and new rows.
 */
function art(px: Uint32Array, dirty: Uint8Array, page: number, color: boolean): string[] {
  const ramp = ' .:-=+*#%@';
  const out: string[] = [];
  const border = `+${'-'.repeat(W / CW)}+`;
  out.push(`${border} pages`);
  for (let cy = 0; cy < H / CH; cy++) {
    let line = '|';
    for (let cx = 0; cx < W / CW; cx++) {
      let n = 0;
      for (let y = cy * CH; y < (cy + 1) * CH; y++) {
        for (let x = cx * CW; x < (cx + 1) * CW; x++) if (px[y * W + x] !== 0) n++;
      }
      line += ramp[Math.ceil((n / (CW * CH)) * (ramp.length - 1))];
    }
    line += '| ';
    const from = Math.ceil((cy * CH * STRIDE) / page);
    const to = Math.ceil(((cy + 1) * CH * STRIDE) / page);
    const band = dirty.subarray(from, to);
    line += `${pageMap(band, color)} ${band.length ? String(from).padStart(2) : ''}`;
    out.push(line.trimEnd());
  }
  out.push(border);
  return out;
}
