// The worker side of examples/gpu-upload: it animates part of the shared vertex and texture data
// each frame, as a physics or animation thread would. It knows nothing about write watching.
import { workerData } from 'node:worker_threads';
import { VERTEX_BYTES, FLAG, CHARACTER, TEXTURE, TEX_WIDTH, BRUSH, brushAt } from './layout.mjs';

const { sab, control } = workerData;
const f32 = new Float32Array(sab);
const u32 = new Uint32Array(sab);
const ctl = new Int32Array(control); // [frame to animate, last frame done]

for (;;) {
  Atomics.wait(ctl, 0, Atomics.load(ctl, 1)); // until the main thread asks for a new frame
  const frame = Atomics.load(ctl, 0);
  if (frame < 0) break;
  // The flag waves every frame: every vertex of it moves.
  for (let v = FLAG.first; v < FLAG.first + FLAG.count; v++) {
    const at = (v * VERTEX_BYTES) / 4;
    f32[at + 1] = Math.sin(frame * 0.3 + (v - FLAG.first) * 0.01);
  }
  // The character moves on even frames only.
  if (frame % 2 === 0) {
    for (let v = CHARACTER.first; v < CHARACTER.first + CHARACTER.count; v++) f32[(v * VERTEX_BYTES) / 4] += 0.5;
  }
  // A brush paints a BRUSH x BRUSH square into the texture.
  const { x, y } = brushAt(frame);
  for (let row = y; row < y + BRUSH; row++) {
    const at = (TEXTURE + (row * TEX_WIDTH + x) * 4) / 4;
    u32.fill(0xff000000 | (frame * 0x10305), at, at + BRUSH);
  }
  Atomics.store(ctl, 1, frame);
  Atomics.notify(ctl, 1);
}
