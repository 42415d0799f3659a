/**
 * Run by test/21.kernel32.mechanism.test.ts under node.exe: a worker thread writes one byte into
 * every page of an allocation, sweep after sweep, through its own koffi.view of the address (what
 * Node's thread pool does for crypto.randomFill), while the main thread releases the allocation
 * with a view still reachable, so that the library holds it (src/memory/windows.ts discardContents).
 * Any moment in which those pages are not committed is an access violation in the worker that
 * kills the process.
 *
 * A free race would find such a moment only if the writer happened to run inside it, which on a
 * loaded machine it mostly does not (measured: with CI running beside it, 0 pages written during
 * most releases, even during a 250 µs busy loop). So the child interposes on the kernel32 binding
 * the library calls (sys/kernel32/raw.ts's object): while a release runs, after every VirtualAlloc
 * and VirtualFree returns, the main thread waits until the writer has swept the whole allocation.
 * Every state the release passes through between two of its calls is written to, whatever the load.
 *
 * argv[2]: 'library' releases CYCLES allocations on each path that holds: the kernel32 mechanism's
 * write-watched memory and compare's plain memory (Memory.release, views.ts), and writewatch/win32's
 * virtualFree(MEM_RELEASE) of a viewMemory'd allocation, with and without MEM_WRITE_WATCH
 * (regions.ts); then prints JSON. 'control' does what the hold did before, VirtualFree(MEM_DECOMMIT)
 * then VirtualAlloc(MEM_COMMIT), through the same interposed calls: the check must see it die of the
 * access violation, printing nothing.
 *
 * Windows are counted in work: the main thread waits (Atomics.wait) for whole sweeps, never for time.
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

  const f = new Int32Array(new SharedArrayBuffer(12));
  const worker = new Worker(new URL(import.meta.url));
  const sweeps = () => Atomics.load(f, SWEEPS);
  const untilSweeps = (n) => {
    for (let s = sweeps(); s < n; s = sweeps()) Atomics.wait(f, SWEEPS, s);
  };

  // The interposer: two more finished sweeps after a call returns means one whole sweep ran
  // entirely in the state that call left.
  const k = kernel32();
  let releasing = false;
  let swept = []; // the calls made while releasing, each as name(0x type), in order
  for (const name of ['VirtualAlloc', 'VirtualFree']) {
    const call = k[name];
    k[name] = (...args) => {
      const r = call(...args);
      if (releasing) {
        untilSweeps(sweeps() + 2);
        swept.push(`${name}(0x${args[2].toString(16)})`);
      }
      return r;
    };
  }

  /** Starts the writer on [address, +LENGTH), runs `release` once it is writing (interposed), stops the writer; returns the calls swept. */
  const race = (address, release) => {
    Atomics.store(f, STOP, 0);
    Atomics.store(f, RUNNING, 1);
    worker.postMessage({ address, length: LENGTH, flags: f.buffer });
    untilSweeps(sweeps() + 1);
    swept = [];
    releasing = true;
    release();
    releasing = false;
    Atomics.store(f, STOP, 1);
    for (let r = Atomics.load(f, RUNNING); r !== 0; r = Atomics.load(f, RUNNING)) Atomics.wait(f, RUNNING, r);
    return swept;
  };

  const mode = process.argv[2];
  const report = { mode, cycles: CYCLES, callsSwept: {} };
  if (mode === 'control') {
    for (let i = 0; i < CYCLES; i++) {
      const a = k.VirtualAlloc(null, LENGTH, 0x3000 /* MEM_RESERVE | MEM_COMMIT */, 0x04);
      race(Number(a), () => {
        k.VirtualFree(a, LENGTH, 0x4000 /* MEM_DECOMMIT */);
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
      tracker.close();
      const calls = race(memory.address, () => memory.release());
      if (heldAllocations() !== held + 1) throw new Error(`${name}: released memory a view could still reach was not held`);
      return calls;
    };
    const win32 = (type) => () => {
      const b = w.virtualAlloc(0n, LENGTH, type, w.PAGE_READWRITE);
      if (b === 0n) throw new Error(`virtualAlloc failed: ${w.getLastError()}`);
      keep.push(w.viewMemory(b, LENGTH));
      const held = heldCount();
      const calls = race(Number(b), () => {
        if (!w.virtualFree(b, 0, w.MEM_RELEASE)) throw new Error(`virtualFree failed: ${w.getLastError()}`);
      });
      if (heldCount() !== held + 1) throw new Error('writewatch/win32: released memory a view could still reach was not held');
      return calls;
    };
    const paths = {
      kernel32: mechanism('kernel32', kernel32Mechanism),
      compare: mechanism('compare', compare),
      'win32 MEM_WRITE_WATCH': win32(w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH),
      'win32 plain': win32(w.MEM_RESERVE | w.MEM_COMMIT),
    };
    // Each path's distinct calls, each swept after every time it was made.
    for (const [name, path] of Object.entries(paths)) {
      const calls = new Set();
      for (let i = 0; i < CYCLES; i++) for (const c of path()) calls.add(c);
      report.callsSwept[name] = [...calls];
    }
    keep.length = 0;
  }
  await worker.terminate();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
