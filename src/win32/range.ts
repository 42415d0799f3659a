/**
 * Windows' page rounding (Wine's ROUND_ADDR / ROUND_SIZE): the base goes down to a page, the end
 * up, so [base, base + size) becomes every page it touches. An unaligned base with size 0 thus
 * covers one page, a valid range. Addresses are bigints at the API and numbers inside: user space
 * ends below 2^52 on every architecture we run on, so larger values cannot name an allocation.
 */
import { pageCeil, pageFloor } from '../memory/pages.js';

const USER_LIMIT = 2 ** 52;

export interface PageRange {
  start: number;
  end: number;
  /** The rounded size is 0. */
  empty: boolean;
  /** The range lies past any user address: it cannot be inside an allocation. */
  outside: boolean;
}

/** Rounds [base, base + size) to pages into `out` (reused by hot callers: no allocation). */
export function roundRange(base: bigint, size: number, page: number, out: PageRange): PageRange {
  if (base >= USER_LIMIT || size >= USER_LIMIT) {
    out.start = out.end = 0;
    out.empty = size === 0 && base % BigInt(page) === 0n;
    out.outside = !out.empty;
    return out;
  }
  const b = Number(base);
  const start = pageFloor(b, page);
  const end = pageCeil(b + size, page);
  out.start = start;
  out.end = end;
  out.empty = end === start;
  out.outside = end > USER_LIMIT;
  return out;
}

export function newRange(): PageRange {
  return { start: 0, end: 0, empty: true, outside: false };
}
