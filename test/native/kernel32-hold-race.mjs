/**
 * Run by test/21.kernel32.mechanism.test.ts under node.exe: a worker thread writes one byte into
 * every page of an allocation, sweep after sweep, through its own koffi.view of the address (what
 * Node's thread pool does for crypto.randomFill), while the main thread releases the allocation
 * with a view still reachable, so that the library holds it (src/memory/windows.ts discardContents).
 * Any moment in which those pages are not committed is an access violation in the worker that
 * kills the process.
 *
 * argv[2]: 'library' releases CYCLES allocations (more, up to ten times as many, until the writer
 * finished a sweep during one) on each path that holds: the kernel32 mechanism's write-watched
 * memory and compare's plain memory (Memory.release, views.ts), and writewatch/win32's
 * virtualFree(MEM_RELEASE) of a viewMemory'd allocation, with and without MEM_WRITE_WATCH
 * (regions.ts); then prints JSON. A race: it fails only when a hold leaves a gap, and catches one
 * only if the writer runs inside it. The main thread spins until the writer has just finished a
 * sweep before each release, so both are on a CPU. (Measured under Wine 8, idle: the old hold,
 * decommit then commit, died 3 runs of 3, on the plain-memory paths; write-watched memory, where
 * each first write goes through Wine's fault handler, survived 20 cycles of it. Under CI's load,
 * before the spin, ten raw decommit+commit cycles survived once.)
 *
 * 'control' does what the old hold did, VirtualFree(MEM_DECOMMIT) then VirtualAlloc(MEM_COMMIT)
 * with raw kernel32 calls, and holds the gap open until the writer has swept it: the check must
 * see the process die of the access violation (and no JSON), whatever the load.
 *
 * Windows are counted in work: the main thread waits (Atomics.wait, or a spin) for whole sweeps, never for time.
 */
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import koffi from 'koffi';

const P = 4096;
const LENGTH = 256 * P;
const CYCLES = Number(process.argv[3] || 10);
const SWEEPS = 0; // sweeps finished (worker increments)
const STOP = 1; // main sets 1: finish this sweep and stop
const RUNNING = 2; // worker clears it once stopped

if (!isMainThread) {
  parentPort.on('message', ({ address, length, flags }) => {
    const f = new Int32Array(flags);
    const u8 = new Uint8Array(koffi.view(BigInt(address), length));
    while (Atomics.load(f, STOP) === 0) {
      for (let o = 0; o < length; o += P) u8[o] = 1;
      Atomics.add(f, SWEEPS, 1);
      Atomics.notify(f, SWEEPS);
    }
    Atomics.store(f, RUNNING, 0);
    Atomics.notify(f, RUNNING);
  });
} else {
  const { kernel32 } = await import('../../dist/sys/kernel32/raw.js');
  const { kernel32Mechanism, heldAllocations } = await import('../../dist/mechanisms/kernel32/index.js');
  const { compare } = await import('../../dist/mechanisms/compare/index.js');
  const w = await import('../../dist/win32/index.js');
  const { heldCount } = await import('../../dist/win32/kernel32/regions.js');
  const k = kernel32();

  const f = new Int32Array(new SharedArrayBuffer(12));
  const worker = new Worker(new URL(import.meta.url));
  const sweeps = () => Atomics.load(f, SWEEPS);
  const untilSweeps = (n) => {
    for (let s = sweeps(); s < n; s = sweeps()) Atomics.wait(f, SWEEPS, s);
  };

  /** Starts the writer on [address, +LENGTH), runs `release` once it is writing, lets it finish two more sweeps, stops it. */
  const race = (address, release) => {
    Atomics.store(f, STOP, 0);
    Atomics.store(f, RUNNING, 1);
    worker.postMessage({ address, length: LENGTH, flags: f.buffer });
    untilSweeps(sweeps() + 1);
    // Spinning, not waiting, until the writer finishes one more sweep: both threads are on a CPU
    // when release() starts, which a loaded machine would otherwise rarely arrange.
    for (let s = sweeps(); sweeps() === s; );
    const before = sweeps();
    release();
    const during = sweeps() - before; // sweeps that finished while release() ran
    untilSweeps(sweeps() + 2); // and whole sweeps into the pages as they are now
    Atomics.store(f, STOP, 1);
    for (let r = Atomics.load(f, RUNNING); r !== 0; r = Atomics.load(f, RUNNING)) Atomics.wait(f, RUNNING, r);
    return during;
  };

  const mode = process.argv[2];
  const report = { mode, cycles: CYCLES, sweepsDuringRelease: {} };
  if (mode === 'control') {
    for (let i = 0; i < CYCLES; i++) {
      const a = k.VirtualAlloc(null, LENGTH, 0x3000 /* MEM_RESERVE | MEM_COMMIT */, 0x04);
      race(Number(a), () => {
        k.VirtualFree(a, LENGTH, 0x4000 /* MEM_DECOMMIT */);
        // The window between the two calls, held open until the writer has swept it once: on a
        // loaded machine the writer may not run inside a window of a few system calls at all.
        untilSweeps(sweeps() + 1);
        k.VirtualAlloc(a, LENGTH, 0x1000 /* MEM_COMMIT */, 0x04);
      });
      k.VirtualFree(a, 0, 0x8000 /* MEM_RELEASE */);
    }
  } else {
    const keep = [];
    const mechanism = (name, m) => () => {
      const { memory, tracker } = m.allocate(LENGTH, () => {});
      keep.push(memory.view(0, LENGTH));
      const held = heldAllocations();
      const during = race(memory.address, () => {
        tracker.close();
        memory.release();
      });
      if (heldAllocations() !== held + 1) throw new Error(`${name}: released memory a view could still reach was not held`);
      return during;
    };
    const win32 = (type) => () => {
      const b = w.virtualAlloc(0n, LENGTH, type, w.PAGE_READWRITE);
      if (b === 0n) throw new Error(`virtualAlloc failed: ${w.getLastError()}`);
      keep.push(w.viewMemory(b, LENGTH));
      const held = heldCount();
      const during = race(Number(b), () => {
        if (!w.virtualFree(b, 0, w.MEM_RELEASE)) throw new Error(`virtualFree failed: ${w.getLastError()}`);
      });
      if (heldCount() !== held + 1) throw new Error('writewatch/win32: released memory a view could still reach was not held');
      return during;
    };
    const paths = {
      kernel32: mechanism('kernel32', kernel32Mechanism),
      compare: mechanism('compare', compare),
      'win32 MEM_WRITE_WATCH': win32(w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH),
      'win32 plain': win32(w.MEM_RESERVE | w.MEM_COMMIT),
    };
    // CYCLES releases a path, and more (up to ten times as many) until the writer finished a sweep
    // while one ran: a race the writer never entered would show nothing.
    report.releases = {};
    for (const [name, path] of Object.entries(paths)) {
      let during = 0;
      let i = 0;
      while (i < CYCLES || (during === 0 && i < 10 * CYCLES)) {
        during += path();
        i++;
      }
      report.sweepsDuringRelease[name] = during;
      report.releases[name] = i;
    }
    keep.length = 0;
  }
  await worker.terminate();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
