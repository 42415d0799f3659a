/**
 * Run by test/50.resources-threads.test.ts: N workers each use the library and end — normally, by
 * process.exit(), terminated while idle or terminated while busy — some leaving a WriteWatch or a win32 allocation open.
 * A win32 allocation is the process's and outlives its worker: the main thread releases those
 * (their bases come with the answers) before the final count.
 * Prints JSON: the descriptors of this process before and after, and what every worker answered.
 */
import { readdirSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

const N = Number(process.argv[2] ?? 50);
const fds = () => readdirSync('/proc/self/fd').length;
const body = `
  const { parentPort, workerData: { i, mode } } = require('node:worker_threads');
  (async () => {
    const { WriteWatch } = await import('writewatch');
    const w = await import('writewatch/win32');
    const ww = WriteWatch.allocate(16 * 4096);
    new Uint8Array(ww.buffer)[4096] = 1;
    const pages = ww.get({ reset: true });
    if (i % 3 !== 0) ww.close(); // every third leaves it open
    const base = i % 5 === 0 ? w.virtualAlloc(0n, 65536, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE) : 0n;
    if (i % 7 === 0) WriteWatch.track(new SharedArrayBuffer(8 * 4096));
    parentPort.postMessage({ pages, base });
    if (mode === 'exit') process.exit(0);
    if (mode === 'idle') setInterval(() => {}, 1000); // alive until terminate()
    if (mode === 'busy') for (;;); // terminate() stops it mid-JS: no 'exit' event
  })();
`;
// Node keeps a few descriptors once it has run a worker, and the main thread its own pagemap fd
// once it has used the library: both before counting.
const { WriteWatch } = await import('writewatch');
const win32 = await import('writewatch/win32');
await new Promise((ok) => new Worker('0', { eval: true }).on('exit', ok));
WriteWatch.allocate(4096).close();
const before = fds();
const answers = [];
const bases = [];
for (let i = 0; i < N; i++) {
  const mode = i === N - 1 ? 'busy' : ['normal', 'exit', 'idle', 'busy'][i % 4]; // the last one's leftovers linger
  await new Promise((ok, fail) => {
    const w = new Worker(body, { eval: true, workerData: { i, mode } });
    w.on('message', ({ pages, base }) => {
      answers.push(pages);
      if (base) bases.push(base);
      if (mode === 'idle' || mode === 'busy') w.terminate();
    });
    w.on('error', fail);
    w.on('exit', ok);
  });
}
// A worker terminated mid-JS never runs its exit hooks: the next descriptor the library opens in
// any thread closes its leftovers.
const lingering = fds();
WriteWatch.allocate(4096).close();
for (const b of bases) if (!win32.virtualFree(b, 0, win32.MEM_RELEASE)) throw new Error(`virtualFree: ${win32.getLastError()}`);
console.log(JSON.stringify({ before, lingering, after: fds(), answers }));
