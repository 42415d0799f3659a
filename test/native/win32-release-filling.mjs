/**
 * Run by test/22.win32-forward.test.ts under node.exe: crypto.randomFill of 256 MiB into a
 * viewMemory() buffer, and MEM_RELEASE on the same tick, three rounds; prints JSON. Mode `library`
 * releases with writewatch/win32's virtualFree (held until the view is collected); mode `direct`
 * is the negative control: kernel32's VirtualFree straight away, as a forwarding without the hold
 * would, which must kill this process (an access violation in the thread pool).
 */
import { randomFill } from 'node:crypto';
import * as w from '../../dist/win32/index.js';
import { kernel32 } from '../../dist/sys/kernel32/raw.js';

const mode = process.argv[2];
const size = 256 << 20;
const results = [];
for (let round = 0; round < 3; round++) {
  const b = w.virtualAlloc(0n, size, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
  if (b === 0n) throw new Error(`VirtualAlloc: ${w.getLastError()}`);
  const view = new Uint8Array(w.viewMemory(b, size));
  const done = new Promise((resolve) => randomFill(view, (err) => resolve(err ? err.code ?? String(err) : null)));
  const released = mode === 'direct' ? kernel32().VirtualFree(b, 0, w.MEM_RELEASE) !== 0 : w.virtualFree(b, 0, w.MEM_RELEASE);
  results.push({ released, err: await done, lengthAfter: view.byteLength });
}
process.stdout.write(JSON.stringify(results) + '\n');
