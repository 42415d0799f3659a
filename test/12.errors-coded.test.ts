/**
 * Issue 19, item 11 and the weaknesses: every argument a public entry point refuses is refused with
 * a `.code` (never a bare TypeError from deep inside), whatever the value is (a revoked Proxy, a
 * function whose `name` is a Symbol, a getter that throws, a path made of a pid), and misspelt
 * options, forged constructions and closed queries are said for what they are.
 *
 * In a child, the same file runs against an older build from its root. A case that returns
 * prints `ok:<value>`; the assertions name the code expected, so a bare TypeError
 * ('NO CODE: TypeError: ...') fails them.
 */
import { expect, it } from 'vitest';
import { runChild } from './support/child-json.js';
import { describeKernel, PAGE } from './support/kernel.js';

const CASES = `
  const { WriteWatch, probe, pagemap, uffd } = await import('writewatch');
  const P = (await import('writewatch')).probe().pageSize, out = {};
  const { proxy: revoked, revoke } = Proxy.revocable({}, {}); revoke();
  const symbolNamed = function () {}; Object.defineProperty(symbolNamed, 'name', { value: Symbol('s') });
  const throwing = { get offset() { throw new TypeError('boom'); } };
  const odd = { revoked, symbolNamed, throwing, symbol: Symbol('x'), bigint: 1n, nul: null, str: '5', neg: -1, nan: NaN };
  const ww = WriteWatch.allocate(4 * P);
  for (const [k, v] of Object.entries(odd)) {
    out['probe(' + k + ')'] = code(() => probe(v).kernel);
    out['allocate(' + k + ')'] = code(() => WriteWatch.allocate(v));
    out['allocate(1, ' + k + ')'] = code(() => WriteWatch.allocate(1, v));
    out['track(' + k + ')'] = code(() => WriteWatch.track(v));
    out['track(ab, ' + k + ')'] = code(() => WriteWatch.track(new ArrayBuffer(4 * P), v));
    out['get(' + k + ')'] = code(() => ww.get(v));
    out['getInto(' + k + ')'] = code(() => ww.getInto(v));
    out['getInto(out, ' + k + ')'] = code(() => ww.getInto(new Float64Array(4), v));
    out['ranges(' + k + ')'] = code(() => ww.ranges(v));
    out['reset(' + k + ')'] = code(() => ww.reset(v));
    out['scanResidency(self, ' + k + ')'] = code(() => pagemap.scanResidency('self', v).pid);
    out['scanResidency(' + k + ')'] = code(() => pagemap.scanResidency(v).pid);
    out['readMaps(' + k + ')'] = code(() => pagemap.readMaps(v).length);
    out['parseMaps(' + k + ')'] = code(() => pagemap.parseMaps(v));
    out['PagemapQuery.open(self, ' + k + ')'] = code(() => pagemap.PagemapQuery.open('self', v).close());
    out['PagemapQuery.open(' + k + ')'] = code(() => pagemap.PagemapQuery.open(v).close());
  }
  ww.close();
  // Paths made of a pid: refused before any file is opened.
  for (const pid of ['../../tmp/x', '1/../self', 'self/../1', 0, 1.5, 2 ** 53]) {
    out['readMaps(' + pid + ')'] = code(() => pagemap.readMaps(pid).length);
    out['scanResidency(' + pid + ')'] = code(() => pagemap.scanResidency(pid).pid);
    out['openPagemap(' + pid + ')'] = code(() => pagemap.openPagemap(pid));
  }
  out['parseMaps(bad line)'] = code(() => pagemap.parseMaps('not a maps line\\n'));
  out['scanResidency(self, { buckets: 1e12 })'] = code(() => pagemap.scanResidency('self', { buckets: 1e12 }).pid);
  out['scanResidency(self, { buckets: -1 })'] = code(() => pagemap.scanResidency('self', { buckets: -1 }).pid);
  // Misspelt options: refused, not silently the default.
  out['allocate mechanisn'] = code(() => WriteWatch.allocate(P, { mechanisn: 'compare' }).mechanism);
  out['track maxBytelength'] = code(() => WriteWatch.track(new ArrayBuffer(P), { maxBytelength: 1 }).mechanism);
  out['get lenght'] = code(() => { const w = WriteWatch.allocate(P); try { return w.get({ lenght: 1 }); } finally { w.close(); } });
  // Forging: the constructor, a subclass's super(), Reflect.construct with another new.target.
  out['new WriteWatch({})'] = code(() => new WriteWatch({}));
  out['new WriteWatch()'] = code(() => new WriteWatch());
  out['class extends WriteWatch'] = code(() => { class F extends WriteWatch { constructor() { super({}, {}, 'compare'); } } return new F(); });
  out['Reflect.construct'] = code(() => Reflect.construct(WriteWatch, [Symbol('WriteWatch'), {}, 'compare'], function () {}));
  {
    const fake = Object.create(WriteWatch.prototype);
    for (const m of ['get', 'getInto', 'ranges', 'reset', 'close']) out['this: ' + m] = code(() => WriteWatch.prototype[m].call(fake));
    for (const g of ['buffer', 'address', 'byteLength', 'mechanism', 'tracked', 'granularity', 'closed']) {
      out['this: ' + g] = code(() => Object.getOwnPropertyDescriptor(WriteWatch.prototype, g).get.call(fake));
    }
    out['this: dispose'] = code(() => WriteWatch.prototype[Symbol.dispose].call(fake));
    const Q = pagemap.PagemapQuery.prototype;
    for (const m of ['forEach', 'regions', 'count', 'close']) out['query this: ' + m] = code(() => Q[m].call({}, 0, 4096, () => {}));
    for (const g of ['closed', 'walkEnd']) out['query this: ' + g] = code(() => Object.getOwnPropertyDescriptor(Q, g).get.call({}));
  }
  out['fromWatched'] = code(() => typeof WriteWatch.fromWatched === 'function' ? WriteWatch.fromWatched({}) : 'absent');
  // getInto into a detached array: an error, not "nothing written".
  {
    const w = WriteWatch.allocate(P);
    new Uint8Array(w.buffer)[0] = 1;
    const f = new Float64Array(4);
    structuredClone(f.buffer, { transfer: [f.buffer] });
    out['getInto(detached)'] = code(() => w.getInto(f, { reset: true }));
    out['getInto(empty)'] = code(() => w.getInto(new Float64Array(0), { reset: true }));
    out['still reported after'] = w.get();
    w.close();
  }
  // A PagemapQuery closed inside its own forEach, and between two next() of regions().
  {
    const mem = new Uint8Array(64 * P).fill(1);
    const q = pagemap.PagemapQuery.open('self', { required: pagemap.PAGE_IS.PRESENT });
    const maps = pagemap.readMaps('self').filter((m) => Number.isFinite(m.end));
    let calls = 0;
    out['query closed in forEach'] = code(() => { for (const m of maps) q.forEach(m.start, m.end, () => { calls++; q.close(); }); });
    out['forEach calls'] = calls;
    const q2 = pagemap.PagemapQuery.open('self', { required: pagemap.PAGE_IS.PRESENT });
    out['query closed in regions'] = code(() => { for (const m of maps) for (const r of q2.regions(m.start, m.end)) q2.close(); });
    void mem;
  }
  // The userfaultfd binding: a bad range is refused with a code.
  {
    const u = uffd.Userfaultfd.open();
    for (const [k, v] of Object.entries(odd)) {
      out['uffd.register(' + k + ')'] = code(() => u.register(v, 4096));
      out['uffd.writeProtect(x, ' + k + ')'] = code(() => u.writeProtect(0x10000, v));
      out['uffd.open(' + k + ')'] = code(() => uffd.Userfaultfd.open(v).close());
    }
    u.close();
    out['uffd.register after close'] = code(() => u.register(0x10000, 4096));
  }
  // What user code throws from a getter or a Proxy trap, however odd, becomes a coded error.
  {
    const throwables = {
      revokedProxy: revoked,
      symbol: Symbol('t'),
      codeGetterThrows: { get code() { throw new Error('x'); } },
      messageAndToStringThrow: { toString() { throw new Error('y'); }, get message() { throw new Error('z'); } },
      nul: null,
      plainError: new Error('boom'),
    };
    for (const [k, t] of Object.entries(throwables)) {
      const opts = (key) => ({ get [key]() { throw t; } });
      const keysThrow = new Proxy({}, { ownKeys() { throw t; } });
      const w = WriteWatch.allocate(4 * P);
      out['throws ' + k + ': get'] = code(() => w.get(opts('reset')));
      out['throws ' + k + ': getInto'] = code(() => w.getInto(new Float64Array(2), opts('offset')));
      out['throws ' + k + ': ranges'] = code(() => w.ranges(opts('length')));
      out['throws ' + k + ': get(ownKeys)'] = code(() => w.get(keysThrow));
      out['throws ' + k + ': allocate'] = code(() => WriteWatch.allocate(P, opts('mechanism')));
      out['throws ' + k + ': allocate(ownKeys)'] = code(() => WriteWatch.allocate(P, keysThrow));
      out['throws ' + k + ': track'] = code(() => WriteWatch.track(new ArrayBuffer(4 * P), opts('maxByteLength')));
      out['throws ' + k + ': scanResidency'] = code(() => pagemap.scanResidency('self', opts('buckets')).pid);
      out['throws ' + k + ': PagemapQuery'] = code(() => pagemap.PagemapQuery.open('self', opts('required')).close());
      out['throws ' + k + ': Userfaultfd.open'] = code(() => uffd.Userfaultfd.open(opts('features')).close());
      w.close();
    }
  }
  out['probe("")'] = code(() => probe('').supported);
  out['probe("abc")'] = code(() => probe('abc').supported);
  console.log(JSON.stringify(out));
`;

describeKernel('12 errors with a code (issue 19, item 11 and weaknesses)', () => {
  const r = runChild(CASES);

  it('the child ran every case', () => {
    expect(r.signal, r.stderr).toBe(null);
    expect(r.status, r.stderr).toBe(0);
  });

  it('no argument of any public entry point ends in an error without a code', () => {
    const bare = Object.entries((r.out ?? {}) as Record<string, unknown>).filter(([, v]) => typeof v === 'string' && v.startsWith('NO CODE'));
    expect(bare).toEqual([]);
    // Negative control: the cases did reach the checks (the count of refused values).
    const coded = Object.values((r.out ?? {}) as Record<string, unknown>).filter((v) => typeof v === 'string' && /^ERR_|^E[A-Z]+$/.test(v));
    expect(coded.length).toBeGreaterThan(150);
  });

  it('the issue\'s own cases: probe(123), probe(null), revoked proxies, symbol-named functions, pagemap arguments', () => {
    const o = r.out;
    expect(o['probe(bigint)']).toBe('ERR_INVALID_ARG_TYPE');
    expect(o['probe(nul)']).toBe('ERR_INVALID_ARG_TYPE');
    expect(o['probe(nan)']).toBe('ERR_INVALID_ARG_TYPE');
    expect(o['get(revoked)']).toBe('ERR_INVALID_ARG_VALUE');
    expect(o['allocate(1, revoked)']).toBe('ERR_INVALID_ARG_VALUE');
    expect(o['allocate(symbolNamed)']).toBe('ERR_INVALID_ARG_TYPE');
    expect(o['get(throwing)']).toBe('ERR_INVALID_ARG_VALUE');
    expect(o['scanResidency(self, nul)']).toBe('ERR_INVALID_ARG_TYPE');
    expect(o['parseMaps(neg)']).toBe('ERR_INVALID_ARG_TYPE');
    expect(o['parseMaps(bad line)']).toBe('ERR_INVALID_ARG_VALUE');
    expect(o['scanResidency(self, { buckets: 1e12 })']).toBe('ERR_OUT_OF_RANGE');
    expect(o['scanResidency(self, { buckets: -1 })']).toBe('ERR_OUT_OF_RANGE');
    expect(o['probe("")']).toBe('ERR_INVALID_ARG_VALUE'); // judged as NaN it passed every version rule
    expect(o['probe("abc")']).toBe('ERR_INVALID_ARG_VALUE');
    for (const k of ['revokedProxy', 'symbol', 'codeGetterThrows', 'messageAndToStringThrow', 'nul', 'plainError']) {
      expect(o[`throws ${k}: get`], k).toBe('ERR_INVALID_ARG_VALUE');
      expect(o[`throws ${k}: Userfaultfd.open`], k).toBe('ERR_INVALID_ARG_VALUE');
    }
  });

  it("a pid is 'self' or a positive safe integer: '../../tmp/x' never becomes a path", () => {
    for (const pid of ['../../tmp/x', '1/../self', 'self/../1']) {
      for (const f of ['readMaps', 'scanResidency', 'openPagemap']) expect(r.out[`${f}(${pid})`], `${f}(${pid})`).toBe('ERR_INVALID_ARG_TYPE');
    }
    for (const pid of [0, 1.5, 2 ** 53]) {
      for (const f of ['readMaps', 'scanResidency', 'openPagemap']) expect(r.out[`${f}(${pid})`], `${f}(${pid})`).toBe('ERR_INVALID_ARG_VALUE');
    }
  });

  it('misspelt options are refused; WriteWatch cannot be forged; getInto into a detached or empty array is an error', () => {
    const o = r.out;
    expect(o['allocate mechanisn']).toBe('ERR_INVALID_ARG_VALUE');
    expect(o['track maxBytelength']).toBe('ERR_INVALID_ARG_VALUE');
    expect(o['get lenght']).toBe('ERR_INVALID_ARG_VALUE');
    for (const k of ['new WriteWatch({})', 'new WriteWatch()', 'class extends WriteWatch', 'Reflect.construct']) expect(o[k], k).toBe('ERR_ILLEGAL_CONSTRUCTOR');
    expect(['ok:"absent"', 'ERR_ILLEGAL_CONSTRUCTOR']).toContain(o.fromWatched);
    // A method or getter called on a forged receiver: Node's ERR_INVALID_THIS, not a private-field TypeError.
    const receivers = Object.keys(o).filter((k) => k.startsWith('this: '));
    expect(receivers.length).toBe(13);
    for (const k of receivers) expect(o[k], k).toBe('ERR_INVALID_THIS');
    for (const k of Object.keys(o).filter((k) => k.startsWith('query this: '))) expect(o[k], k).toBe('ERR_INVALID_THIS');
    expect(o['getInto(detached)']).toBe('ERR_INVALID_ARG_VALUE');
    expect(o['getInto(empty)']).toBe('ERR_INVALID_ARG_VALUE');
    expect(o['still reported after']).toEqual([0]); // nothing was reset by the refused call
  });

  it('a PagemapQuery closed by its own callback says ERR_WRITEWATCH_CLOSED, not EBADF', () => {
    expect(r.out['forEach calls']).toBe(1); // negative control: the callback ran, and only once
    expect(r.out['query closed in forEach']).toBe('ERR_WRITEWATCH_CLOSED');
    expect(r.out['query closed in regions']).toBe('ERR_WRITEWATCH_CLOSED');
  });
});
