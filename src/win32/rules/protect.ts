/** VirtualProtect's rules (NtProtectVirtualMemory's), over any Space, with the latch (space.ts: LATCHED). */
import { LostError } from '../../errors.js';
import { writable, type Box } from '../args.js';
import { STATUS_ACCESS_VIOLATION, STATUS_INVALID_PARAMETER, STATUS_NOT_COMMITTED } from '../constants.js';
import { checkProtect } from '../protection.js';
import { roundRange } from '../range.js';
import { LATCHED, PROTECTION, STICKY, type Region, type Space } from '../space.js';
import { pageOf, setFlags, setQuery, type Frame } from './frame.js';

/**
 * NtProtectVirtualMemory: NULL or unwritable `oldProtect` → 998 first (Wine checks it before
 * anything else); then a range not inside one allocation → 87, a page in it not committed → 487, a
 * bad protection → 87. `oldProtect.value` receives the first page's protection. Changing protection
 * is never a write and never clears the written state; on a watched region the pages written (and
 * not reset) at this moment are latched (see LATCHED).
 */
export function protect(space: Space, f: Frame, address: bigint, size: number, newProtect: number, old: Box | null): number {
  if (!old || !writable(old)) return STATUS_ACCESS_VIOLATION;
  const page = space.pageSize;
  const r = roundRange(address, size, page, f.range);
  if (r.outside || r.empty) return STATUS_INVALID_PARAMETER;
  let previous = 0;
  let before: Uint16Array | null = null;
  let region: Region | undefined;
  const status = space.locked(() => {
    const a = space.find(r.start, r.end);
    if (!a) return STATUS_INVALID_PARAMETER;
    const first = pageOf(a, r.start, page);
    const last = pageOf(a, r.end, page);
    for (let i = first; i < last; i++) if ((a.pages[i] & PROTECTION) === 0) return STATUS_NOT_COMMITTED;
    const bad = checkProtect(newProtect, false);
    if (bad) return bad;
    if (a.watched) {
      const s = latch(space, f, a, r.start, r.end);
      if (s) return s;
    }
    const st = space.apply(a, r.start, r.end, newProtect);
    if (st) return st;
    previous = a.pages[first] & PROTECTION;
    before = a.pages.slice(first, last);
    for (let i = first; i < last; i++) a.pages[i] = (a.pages[i] & ~PROTECTION) | newProtect;
    region = a;
    return 0;
  });
  if (status) return status;
  try {
    old.value = previous; // user code: outside the lock
    return 0;
  } catch {
    // Probed writable, yet its setter threw: put every page's protection back, then 998.
    space.locked(() => {
      const a = region!;
      if (space.find(r.start, r.end) !== a) return; // released meanwhile, by that very setter
      restore(space, a, pageOf(a, r.start, page), before!);
    });
    return STATUS_ACCESS_VIOLATION;
  }
}

/** Sets LATCHED on the pages of [start, end) written and not reset (the tracker's or STICKY). */
function latch(space: Space, f: Frame, a: Region, start: number, end: number): number {
  const page = space.pageSize;
  const n = (end - start) / page;
  if (f.tmp.length < n) f.tmp = new Float64Array(n);
  const q = f.q;
  setQuery(q, start, end, false, 0, f.tmp);
  try {
    space.watch(a).scan(q);
  } catch (e) {
    if (!(e instanceof LostError)) throw e;
    return 0; // tracking lost: GetWriteWatch answers 87 from now on; the protection still changes
  } finally {
    q.into = null;
  }
  for (let k = 0; k < q.count; k++) setFlags(a, pageOf(a, f.tmp[k], page), LATCHED);
  for (let i = pageOf(a, start, page), last = pageOf(a, end, page); i < last && a.flagged > 0; i++) {
    if (a.pages[i] & STICKY) setFlags(a, i, LATCHED);
  }
  return 0;
}

function restore(space: Space, a: Region, first: number, before: Uint16Array): void {
  const page = space.pageSize;
  for (let i = 0; i < before.length; ) {
    let j = i + 1;
    while (j < before.length && (before[j] & PROTECTION) === (before[i] & PROTECTION)) j++;
    const start = a.base + (first + i) * page;
    space.apply(a, start, start + (j - i) * page, before[i] & PROTECTION);
    for (let k = i; k < j; k++) a.pages[first + k] = (a.pages[first + k] & ~PROTECTION) | (before[k] & PROTECTION);
    i = j;
  }
}
