/**
 * Run with --expose-gc by test/50.resources.test.ts: WriteWatches (and the views over them) dropped
 * without close() must give back their userfaultfd and their mapping once collected. Prints JSON
 * with the userfaultfd count and the /proc/self/maps line count before, at the peak and after.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { WriteWatch } from 'writewatch';

const N = Number(process.argv[2] ?? 50);
const uffds = () =>
  readdirSync('/proc/self/fd').filter((f) => {
    try {
      return readlinkSync(`/proc/self/fd/${f}`) === 'anon_inode:[userfaultfd]';
    } catch {
      return false;
    }
  }).length;
const maps = () => readFileSync('/proc/self/maps', 'utf8').split('\n').length;
const tick = () => new Promise((r) => setImmediate(r));

async function settle() {
  for (let i = 0; i < 5; i++) {
    globalThis.gc();
    await tick();
  }
}

function make() {
  // Distinct sizes keep the kernel from merging neighbouring mappings into one line of maps.
  for (let i = 0; i < N; i++) {
    const ww = WriteWatch.allocate((i + 1) * 16 * 4096);
    const u8 = new Uint8Array(ww.buffer);
    u8[4096 * (i % 16)] = 1;
    if (ww.get().length !== 1) throw new Error('tracking broken');
  }
}

await settle();
const before = { uffds: uffds(), maps: maps() };
make();
const peak = { uffds: uffds(), maps: maps() };
let after = peak;
for (let round = 0; round < 100 && (after.uffds > before.uffds || after.maps > before.maps); round++) {
  await settle();
  after = { uffds: uffds(), maps: maps() };
}
process.stdout.write(`${JSON.stringify({ before, peak, after })}\n`);
