/**
 * The scan matrix: for each region size, pattern and fraction written, one get+reset and one
 * get-only per method, the methods interleaved within each repetition (their order rotated) on
 * the same pages, so that every ratio is taken within one repetition. Stores happen before the
 * clock starts.
 */
import { median } from './stats.mjs';
import { pattern, pageCount } from './patterns.mjs';
import { CRegion, JsRegion } from './regions.mjs';
import { evictCaches } from './evict.mjs';
import { Shadow } from './shadow.mjs';

let value = 1;

/** Sets up every method's region for one size. `populate`: write every page once, then reset. */
export function setup({ native, win32, length, page, populate, shadow }) {
  const pages = length / page;
  const ctx = { length, pages, methods: [], close: [] };
  const all = populate ? Uint32Array.from({ length: pages }, (_, i) => i) : null;
  try {
    if (native) {
      const c = new CRegion(native, length, page);
      ctx.c = c;
      ctx.close.push(() => c.close());
      if (all) (c.dirty(all, 0), c.reset());
      ctx.methods.push({ name: 'C', dirty: (p, v) => c.dirty(p, v), time: (r) => c.time(r), reset: () => c.reset() });
    }
    const js = new JsRegion(length, page);
    ctx.close.push(() => js.close());
    if (all) (js.dirty(all, 0), js.reset());
    ctx.js = js;
    const jsDirty = (p, v) => js.dirty(p, v);
    ctx.methods.push({ name: 'get', dirty: jsDirty, time: (r) => js.timeGet(r), reset: () => js.reset() });
    ctx.methods.push({ name: 'getInto', dirty: jsDirty, time: (r) => js.timeGetInto(r), reset: () => js.reset() });
    if (win32) {
      const w = win32.region(length);
      ctx.close.push(() => w.close());
      if (all) (w.dirty(all, 0), w.reset());
      ctx.methods.push({ name: 'win32', dirty: (p, v) => w.dirty(p, v), time: (r) => w.time(r), reset: () => w.reset(), prepare: (k) => w.prepare(k) });
    }
    if (shadow) {
      const s = new Shadow(js.wws[0].buffer, page);
      ctx.close.push(() => s.close());
      ctx.methods.push({ name: 'shadow', dirty: jsDirty, time: () => s.time(), reset: () => {}, resetOnly: true, sync: () => s.sync() });
    }
  } catch (e) {
    for (const f of ctx.close.reverse()) f();
    throw e;
  }
  return ctx;
}

export function teardown(ctx) {
  for (const f of ctx.close.reverse()) f();
  ctx.close = [];
}

/**
 * One cell: `reps` repetitions of each mode. Returns { k, modes: { 'get+reset': {...}, get: {...} } }
 * with per-method medians, same-repetition ratios, and `bad` listing any count that was wrong.
 */
export function runCell(ctx, { kind, fraction, reps, seed }) {
  const pages = pattern(kind, ctx.pages, fraction, seed);
  const k = pageCount(ctx.pages, fraction);
  ctx.js.prepareInto(k);
  for (const m of ctx.methods) m.prepare?.(k);
  const result = { k, modes: {} };
  for (const mode of ['get+reset', 'get']) {
    const reset = mode === 'get+reset';
    const methods = ctx.methods.filter((m) => reset || !m.resetOnly);
    for (const m of methods) m.sync?.();
    const times = Object.fromEntries(methods.map((m) => [m.name, []]));
    const bad = [];
    for (let r = 0; r < reps; r++) {
      const v = ++value;
      for (let i = 0; i < methods.length; i++) {
        const m = methods[(i + r) % methods.length];
        m.dirty(pages, v);
        evictCaches();
        const { ns, pages: got } = m.time(reset);
        if (got !== k) bad.push(`${m.name} found ${got} of ${k} pages`);
        if (!reset) m.reset();
        times[m.name].push(ns);
      }
    }
    result.modes[mode] = { times, ns: Object.fromEntries(Object.entries(times).map(([n, t]) => [n, median(t)])), bad };
  }
  return result;
}

/** Median over repetitions of a / b, both taken in the same repetition. */
export function ratio(times, a, b) {
  if (!times[a] || !times[b]) return NaN;
  return median(times[a].map((x, i) => x / times[b][i]));
}

/**
 * The target cell once more, with the C loop walking the WriteWatch's own memory (the very same
 * page tables) in alternation with get and getInto, warm (back to back, as a loop of calls) and
 * cold (caches evicted before each call). Isolates what JS and koffi add from any difference
 * between two regions.
 */
export function sameMemory(ctx, { kind, fraction, reps, seed }) {
  const pages = pattern(kind, ctx.pages, fraction, seed);
  const k = pageCount(ctx.pages, fraction);
  const js = ctx.js, c = ctx.c.r;
  const addr = Number(js.wws[0].address), len = ctx.length;
  js.prepareInto(k);
  const methods = {
    'C, same memory': () => c.scanAt(addr, len, true),
    get: () => js.timeGet(true),
    getInto: () => js.timeGetInto(true),
  };
  const names = Object.keys(methods);
  const out = {};
  for (const cold of [false, true]) {
    const times = Object.fromEntries(names.map((n) => [n, []]));
    const bad = [];
    for (let r = 0; r < reps; r++) {
      for (let i = 0; i < names.length; i++) {
        const n = names[(i + r) % names.length];
        js.dirty(pages, ++value);
        if (cold) evictCaches();
        const { ns, pages: got } = methods[n]();
        if (got !== k) bad.push(`${n} found ${got} of ${k} pages`);
        times[n].push(ns);
      }
    }
    out[cold ? 'cold' : 'warm'] = { times, ns: Object.fromEntries(names.map((n) => [n, median(times[n])])), bad };
  }
  return { k, length: len, kind, fraction, ...out };
}
