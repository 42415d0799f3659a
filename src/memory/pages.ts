/**
 * Page rounding, the one implementation: every range the library hands the kernel or reports is
 * whole pages, and a byte range covers every page it touches.
 */

/** The start of the page holding `x`. */
export function pageFloor(x: number, page: number): number {
  return Math.floor(x / page) * page;
}

/** `x` rounded up to a page boundary (the end of the page holding byte `x - 1`). */
export function pageCeil(x: number, page: number): number {
  return Math.ceil(x / page) * page;
}
