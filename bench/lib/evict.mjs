/**
 * Every timed scan starts with cold caches, as after a frame of application work: reading 64 MiB
 * (twice this machine's 32 MiB L3) evicts the page tables the last method walked. Without it, a
 * method that runs right after another on the same memory finds its page-table entries in L3 and
 * looks faster than one on its own region.
 */
const buf = new Float64Array((64 * 2 ** 20) / 8);
buf.fill(1);
let sink = 0;

export function evictCaches() {
  let s = 0;
  for (let i = 0; i < buf.length; i += 8) s += buf[i]; // one load per 64-byte line
  sink += s;
  return sink;
}
