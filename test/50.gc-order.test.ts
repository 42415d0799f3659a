/**
 * Issue 19, lifetimes: the garbage collector's order and ArrayBuffer.prototype.transfer cannot make
 * the library unmap memory JS can still reach, nor leave memory mapped or registered that nothing
 * can use any more.
 *
 * - item 8: a full-length `transfer()` of a WriteWatch's buffer (Node 22+) makes a buffer over the
 *   same memory that the library never sees; close() / a drop / GC then must not unmap it under it.
 *   Run with this Node and with every Node of `npm run test:node`'s cache (22, 24, 26), in children.
 * - item 9: trackers dropped without close() never make a later track() of new memory fail.
 * - a worker that ends without close() leaves none of its allocate()d memory mapped.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT, runChild } from './support/child-json.js';
import { describeKernel } from './support/kernel.js';

/** This Node, and the Nodes scripts/test-node.sh unpacked (its cache), each once. */
function nodes(): string[] {
  const cache = join(ROOT, 'node_modules', '.cache', 'writewatch-node');
  const found = existsSync(cache) ? readdirSync(cache).map((v) => join(cache, v, 'bin', 'node')).filter((p) => existsSync(p)) : [];
  return [process.execPath, ...found.filter((p) => p !== process.execPath)];
}

const TRANSFER_CASES = `
  const { WriteWatch } = await import('writewatch');
  const pinnedMappings = (await import('./dist/memory/mapping.js').catch(() => ({}))).pinnedMappings ?? (() => -1);
  const P = 65536;
  const out = { node: process.version, transfer: typeof ArrayBuffer.prototype.transfer === 'function', pinned0: pinnedMappings() };
  if (out.transfer) {
    for (const mechanism of ['write-protect', 'compare']) {
      // close(): the moved buffer outlives it.
      let ww = WriteWatch.allocate(P, { mechanism });
      new Uint8Array(ww.buffer)[7] = 7;
      const moved = ww.buffer.transfer();
      ww.close();
      ww = null;
      await settle();
      const m = new Uint8Array(moved);
      m[100] = 1; // SIGSEGV before the fix
      out[mechanism + ' close'] = { read: m[7], wrote: m[100] };
      // Dropped without close(), transferred before the drop.
      let ww2 = WriteWatch.allocate(P, { mechanism });
      const moved2 = ww2.buffer.transfer();
      ww2 = null;
      await settle();
      new Uint8Array(moved2)[5] = 5;
      out[mechanism + ' drop'] = new Uint8Array(moved2)[5];
      // Dropped while the user keeps the buffer, transferred after the drop, the original collected.
      let keep = WriteWatch.allocate(P, { mechanism }).buffer;
      await settle();
      const moved3 = keep.transfer();
      keep = null;
      await settle();
      new Uint8Array(moved3)[9] = 9;
      out[mechanism + ' after drop'] = new Uint8Array(moved3)[9];
      // An own byteLength of 0 on the buffer: close() still detaches it (transfer() then throws).
      const ww4 = WriteWatch.allocate(P, { mechanism });
      const b4 = ww4.buffer;
      Object.defineProperty(b4, 'byteLength', { value: 0 });
      ww4.close();
      out[mechanism + ' lying byteLength'] = code(() => b4.transfer().byteLength);
    }
    // win32: viewMemory(...).transfer(), then MEM_RELEASE: writewatch/win32 refuses to let its
    // views be transferred (a coded error, nothing moved), so the release cannot strand a buffer.
    const w = await import('writewatch/win32');
    const b = w.virtualAlloc(0n, P, w.MEM_RESERVE | w.MEM_COMMIT | w.MEM_WRITE_WATCH, w.PAGE_READWRITE);
    let movedView = null;
    try {
      movedView = w.viewMemory(b, P).transfer();
      out.win32Transfer = 'moved';
    } catch (e) {
      out.win32Transfer = e.code;
    }
    out.win32Free = w.virtualFree(b, 0, w.MEM_RELEASE);
    await settle();
    if (movedView) {
      new Uint8Array(movedView)[11] = 11;
      out.win32 = new Uint8Array(movedView)[11];
    } else out.win32 = 'refused';
  }
  out.pinned = pinnedMappings() - out.pinned0;
  console.log(JSON.stringify(out));
`;

describeKernel('50 GC order and transferred buffers (issue 19, items 8 and 9)', () => {
  for (const node of nodes()) {
    it(`item 8: a WriteWatch's buffer moved with transfer(), then close()/drop and GC, stays writable (${node === process.execPath ? 'this Node' : node.split('/').slice(-3, -2)[0]})`, () => {
      const r = runChild(TRANSFER_CASES, { node });
      expect(r.signal, r.stderr).toBe(null);
      expect(r.status, r.stderr).toBe(0);
      const o = r.out;
      if (!o.transfer) {
        // Node 20: no public transfer(), and structuredClone copies an external buffer: no alias can exist.
        expect(o.node).toMatch(/^v20\./);
        return;
      }
      for (const m of ['write-protect', 'compare']) {
        // The memory was released: a zero placeholder took its place (7 is gone), writes land there.
        expect(o[`${m} close`], m).toEqual({ read: 0, wrote: 1 });
        expect(o[`${m} drop`], m).toBe(5);
        expect(o[`${m} after drop`], m).toBe(9);
        // Negative control of the lie: the engine's byteLength says detached.
        expect(o[`${m} lying byteLength`], m).toMatch(/^NO CODE: TypeError/);
      }
      expect([o.win32Transfer, o.win32Free, o.win32]).toEqual(['ERR_INVALID_ARG_VALUE', true, 'refused']);
      // Three ranges per mechanism are kept as placeholders (the library counts them).
      if (o.pinned0 >= 0) expect(o.pinned).toBe(6);
    });
  }

  it('item 9: 20 x 20 trackers of 64 KiB buffers dropped without close(): every later track() of new memory succeeds', () => {
    const r = runChild(`
      const { WriteWatch } = await import('writewatch');
      let failed = 0, tracked = 0, errors = new Set();
      for (let round = 0; round < 20; round++) {
        (() => { for (let i = 0; i < 20; i++) WriteWatch.track(new ArrayBuffer(65536)); })();
        await new Promise((r) => setTimeout(r, 0)); // out of the creating task: the trackers are unreachable
        // A synchronous GC frees the buffers (malloc can hand their memory out at once); the
        // FinalizationRegistry callbacks run only after this task: the new track()s come first.
        globalThis.gc();
        const keep = [];
        for (let i = 0; i < 20; i++) {
          try { keep.push(WriteWatch.track(new ArrayBuffer(65536))); tracked++; } catch (e) { failed++; errors.add(e.code + ' ' + e.cause?.code); }
        }
        for (const w of keep) w.close();
        await settle();
      }
      console.log(JSON.stringify({ failed, tracked, errors: [...errors] }));
    `);
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toEqual({ failed: 0, tracked: 400, errors: [] });
  });

  it('item 9 across targets and mechanisms: dropped trackers of ArrayBuffers, SharedArrayBuffers, resizable buffers, Memories, and dropped allocations', () => {
    const r = runChild(`
      const { WriteWatch } = await import('writewatch');
      const out = {};
      const makers = {
        ab64k: () => new ArrayBuffer(65536),
        ab1m: () => new ArrayBuffer(1 << 20),
        sab: () => new SharedArrayBuffer(65536),
        resizable: () => new ArrayBuffer(65536, { maxByteLength: 4 * 65536 }),
        memory: () => new WebAssembly.Memory({ initial: 1, maximum: 4 }),
      };
      for (const mechanism of ['write-protect', 'compare']) {
        for (const [kind, make] of Object.entries(makers)) {
          const opts = kind === 'memory' ? { mechanism, maxByteLength: 4 * 65536 } : { mechanism };
          let failed = 0;
          for (let round = 0; round < 6; round++) {
            (() => { for (let i = 0; i < 10; i++) WriteWatch.track(make(), opts); })();
            await new Promise((r) => setTimeout(r, 0));
            globalThis.gc();
            const keep = [];
            for (let i = 0; i < 10; i++) { try { keep.push(WriteWatch.track(make(), opts)); } catch { failed++; } }
            for (const w of keep) w.close();
            await settle();
          }
          out[mechanism + ' ' + kind] = failed;
        }
        let failed = 0;
        for (let round = 0; round < 6; round++) {
          (() => { for (let i = 0; i < 10; i++) WriteWatch.allocate(65536, { mechanism }); })();
          await new Promise((r) => setTimeout(r, 0));
          globalThis.gc();
          for (let i = 0; i < 10; i++) { try { WriteWatch.allocate(65536, { mechanism }).close(); } catch { failed++; } }
          await settle();
        }
        out[mechanism + ' allocate'] = failed;
      }
      console.log(JSON.stringify(out));
    `);
    expect(r.status, r.stderr).toBe(0);
    const kinds = ['ab64k', 'ab1m', 'sab', 'resizable', 'memory', 'allocate'];
    const zeros = Object.fromEntries(['write-protect', 'compare'].flatMap((m) => kinds.map((k) => [`${m} ${k}`, 0])));
    expect(r.out).toEqual(zeros);
  });
});

describeKernel('50 a worker that ends without close() (issue 19, weakness 5)', () => {
  it('leaves none of its allocate()d memory mapped (write-protect and compare), whatever it closed', () => {
    const r = runChild(`
      const { Worker } = await import('node:worker_threads');
      const { readFileSync } = await import('node:fs');
      const mapped = (ranges) => {
        const maps = readFileSync('/proc/self/maps', 'utf8').trim().split('\\n').map((l) => l.split(' ')[0].split('-').map((h) => parseInt(h, 16)));
        return ranges.filter(([s, e]) => maps.some(([ms, me]) => ms < e && s < me)).length;
      };
      const w = new Worker(\`
        const { parentPort } = await import('node:worker_threads');
        await import('writewatch').then(({ WriteWatch }) => {
          const out = [];
          for (const mechanism of ['write-protect', 'compare']) {
            for (let i = 0; i < 4; i++) {
              const ww = WriteWatch.allocate(2 << 20, { mechanism });
              new Uint8Array(ww.buffer).fill(1);
              const a = Number(ww.address);
              out.push([a, a + ww.byteLength]);
              if (i === 3) ww.close(); // one closed, three left open
              globalThis.keep = (globalThis.keep ?? []).concat(ww);
            }
          }
          parentPort.postMessage(out);
          parentPort.once('message', () => parentPort.close());
        });
      \`, { eval: true });
      const ranges = await new Promise((r) => w.once('message', r));
      const open = ranges.filter((_, i) => i % 4 !== 3);
      const whileAlive = mapped(open);
      w.postMessage('end');
      const exitCode = await new Promise((r) => w.once('exit', r));
      console.log(JSON.stringify({ whileAlive, afterExit: mapped(ranges), exitCode, n: open.length }));
    `);
    expect(r.status, r.stderr).toBe(0);
    expect(r.out.exitCode).toBe(0);
    // Negative control: the oracle sees them while the worker lives.
    expect(r.out.whileAlive).toBe(r.out.n);
    expect(r.out.afterExit).toBe(0);
  });
});
