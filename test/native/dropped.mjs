/**
 * Run with --expose-gc by test/50.resources.test.ts: WriteWatches (and the views over them) dropped
 * without close() must give back their userfaultfd and their mapping once collected. Prints JSON
 * with the userfaultfd count and the /proc/self/maps line count before, at the peak and after.
 *
 * `dropped.mjs N track`: N WriteWatch.track()s of SharedArrayBuffers the script keeps, dropped
 * without close(): once collected, their userfaultfds are closed, nothing is registered for uffd-wp
 * (smaps "uw"), and every buffer can be tracked again (no EBUSY). Prints `retracked` too.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { probe, WriteWatch } from 'writewatch';
import { pinnedMappings } from '../../dist/memory/mapping.js';

const N = Number(process.argv[2] ?? 50);
const TRACK = process.argv[3] === 'track';
const PAGE = probe().pageSize;
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

const targets = [];
function make() {
  // Distinct sizes keep the kernel from merging neighbouring mappings into one line of maps.
  // Growable SharedArrayBuffers are page-aligned: two never share a page (plain ones from malloc's
  // heap can, and the second would then leave the shared page's bytes untracked).
  for (let i = 0; i < N; i++) {
    const size = (i + 2) * 16 * PAGE;
    const ww = TRACK ? WriteWatch.track(targets[targets.push(new SharedArrayBuffer(size, { maxByteLength: size })) - 1]) : WriteWatch.allocate((i + 1) * 16 * PAGE);
    const u8 = new Uint8Array(ww.buffer);
    u8[PAGE * (8 + (i % 8))] = 1; // a whole page inside either kind of buffer
    if (ww.get().length !== 1) throw new Error('tracking broken');
  }
}
const registered = () => (readFileSync('/proc/self/smaps', 'utf8').match(/^VmFlags:.*\buw\b/gm) ?? []).length;

await settle();
const before = { uffds: uffds(), maps: maps(), pinned: pinnedMappings() };
make();
const peak = { uffds: uffds(), maps: maps(), ...(TRACK ? { registered: registered() } : {}) };
let after = peak;
for (let round = 0; round < 100 && (after.uffds > before.uffds || after.maps > before.maps); round++) {
  await settle();
  after = { uffds: uffds(), maps: maps(), pinned: pinnedMappings() };
  // Where a view can be transferred (Node 22+), a dropped allocation keeps its range for good (a
  // placeholder with no memory: views.ts): done once every one of them is held so.
  if (after.uffds === before.uffds && after.pinned - before.pinned === (TRACK ? 0 : N)) break;
}
let retracked = 0;
if (TRACK) {
  after.registered = registered();
  for (const sab of targets) {
    const again = WriteWatch.track(sab); // EBUSY if a dropped one still held the registration
    retracked++;
    again.close();
  }
}
process.stdout.write(`${JSON.stringify({ before, peak, after, retracked, transfer: typeof ArrayBuffer.prototype.transfer === 'function' })}\n`);
