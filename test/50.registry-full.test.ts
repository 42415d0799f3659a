/**
 * Issue 19, item 10 and the 'auto' weakness: with every range slot of the process-wide registry
 * live, track() and allocate() fail with the registry's ENOMEM before leaving anything behind (no
 * userfaultfd, no mapping, no registration: the same buffer tracks once slots are free), 'auto'
 * throws the same error rather than falling back, and probe() says what 'auto' would do: stay
 * write-protect, naming the exhausted resource. In a child, which fills the registry with ranges
 * below mmap_min_addr (never memory), so nothing depends on where memory is.
 */
import { expect, it } from 'vitest';
import { runChild } from './support/child-json.js';
import { describeKernel } from './support/kernel.js';

describeKernel('50 a full registry (issue 19, item 10)', () => {
  it('track/allocate throw ENOMEM and leak nothing; auto throws it too; probe().auto agrees; all work once slots are free', () => {
    const r = runChild(`
      const { WriteWatch, probe } = await import('writewatch');
      const { readdirSync, readFileSync } = await import('node:fs');
      const reg = await import('./dist/sys/process/registry.js').catch(() => import('./dist/process/registry.js'));
      const fds = () => readdirSync('/proc/self/fd').length;
      // The mappings allocate(65536) would leave: exactly 64 KiB, read-write, anonymous (V8 growing
      // its own heap meanwhile maps other sizes).
      const maps = () => readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => {
        const [r, perms, , , inode] = l.split(/\\s+/);
        const [a, b] = (r ?? '').split('-').map((x) => parseInt(x, 16));
        return b - a === 65536 && perms === 'rw-p' && inode === '0';
      }).length;
      const err = (f) => { try { f(); return 'ok'; } catch (e) { return { code: e.code ?? 'NO CODE', syscall: e.syscall, message: e.message }; } };
      const ab = new ArrayBuffer(16 * 4096);
      // Warm up (pagemap fd, libc bindings) so that the counts below compare like with like.
      WriteWatch.track(new ArrayBuffer(16 * 4096)).close();
      WriteWatch.allocate(4096).close();
      const kind = reg.KIND ? reg.KIND.WATCH | reg.KIND.PROCESS : undefined;
      const slots = [];
      for (let i = 0; ; i++) {
        try { slots.push(reg.claimRange(i + 1, i + 2, kind)); } catch (e) { break; }
        if (i > 100000) break;
      }
      const before = { fds: fds(), maps: maps() };
      const out = { slots: slots.length };
      out.track = err(() => WriteWatch.track(ab));
      out.trackAgain = err(() => WriteWatch.track(ab)); // the first left nothing registered: the same error, not EBUSY
      out.allocate = err(() => WriteWatch.allocate(65536));
      out.auto = err(() => WriteWatch.allocate(65536, { mechanism: 'auto' }));
      out.autoTrack = err(() => WriteWatch.track(ab, { mechanism: 'auto' }));
      out.leaked = { fds: fds() - before.fds, maps: maps() - before.maps };
      const p = probe();
      out.probe = { supported: p.supported, auto: p.auto };
      for (const s of slots) reg.releaseRange(s);
      const ww = WriteWatch.track(ab);
      new Uint8Array(ab)[4096 * 3] = 1;
      out.after = ww.get({ offset: 4096 * 3, length: 1 }).length; // that byte's page (neighbours of a malloc'd buffer may write its edge pages)
      ww.close();
      out.probeAfter = probe().auto.mechanism;
      console.log(JSON.stringify(out));
    `);
    expect(r.status, r.stderr).toBe(0);
    const o = r.out;
    expect(o.slots).toBeGreaterThanOrEqual(16000); // negative control: the registry was full
    for (const k of ['track', 'trackAgain', 'allocate', 'auto', 'autoTrack']) {
      expect(o[k], k).toMatchObject({ code: 'ENOMEM', syscall: 'writewatch registry' });
    }
    // Nothing left behind: not one descriptor, not one of the allocations' mappings.
    expect(o.leaked).toEqual({ fds: 0, maps: 0 });
    expect(o.probe.supported).toBe(false);
    // What allocate({ mechanism: 'auto' }) did: it threw, it did not turn to compare.
    expect(o.probe.auto.mechanism).toBe('write-protect');
    expect(o.probe.auto.reason).toMatch(/registry/);
    expect(o.after).toBe(1);
    expect(o.probeAfter).toBe('write-protect');
  });

  it('a full fd table: probe().auto stays write-protect, as allocate({ mechanism: "auto" }) throws EMFILE', () => {
    const r = runChild(`
      const { WriteWatch, probe } = await import('writewatch');
      const { openSync, closeSync } = await import('node:fs');
      WriteWatch.allocate(4096).close(); // the pagemap fd is open: the userfaultfd is what cannot be had
      const held = [];
      try { for (;;) held.push(openSync('/dev/null', 'r')); } catch {}
      let auto;
      try { WriteWatch.allocate(65536, { mechanism: 'auto' }).close(); auto = 'ok'; } catch (e) { auto = e.code; }
      const p = probe();
      for (const fd of held) closeSync(fd);
      console.log(JSON.stringify({ auto, probe: p.auto, held: held.length }));
    `, { nofile: 256 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.out.held).toBeGreaterThan(0);
    expect(r.out.auto).toBe('EMFILE');
    expect(r.out.probe.mechanism).toBe('write-protect');
    expect(r.out.probe.reason).toMatch(/EMFILE/);
  });
});
