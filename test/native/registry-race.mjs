/**
 * Run by test/50.lost-superseded.test.ts: 4 workers use the library for the first time at once
 * (the main thread never does), so they race to create the process-wide registry. Prints JSON:
 * what each allocated, and how many registry mappings the process has (one, if they agreed).
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

const N = 4;
const shared = new Int32Array(new SharedArrayBuffer(64));
const body = `
  const { workerData: { i, shared }, parentPort } = require('node:worker_threads');
  (async () => {
    const { WriteWatch } = await import('writewatch');
    Atomics.add(shared, 0, 1);
    while (Atomics.load(shared, 0) < ${N}) Atomics.wait(shared, 0, Atomics.load(shared, 0), 10);
    const ww = WriteWatch.allocate(4 * 4096); // the first descriptor: attaches the registry
    parentPort.postMessage(String(ww.address));
    ww.close();
  })().catch((e) => parentPort.postMessage('error: ' + e));`;
const answers = await Promise.all(
  Array.from({ length: N }, (_, i) => new Promise((ok) => {
    const w = new Worker(body, { eval: true, workerData: { i, shared } });
    w.once('message', ok);
  })),
);
const registries = readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('/memfd:writewatch-registry')).length;
console.log(JSON.stringify({ answers, registries }));
