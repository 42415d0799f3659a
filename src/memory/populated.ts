/**
 * Which runs of [start, end) may hold anything but zeros, so that a reader can skip the rest: on
 * Linux the pages present or swapped (PAGEMAP_SCAN), on Windows the committed regions (VirtualQuery;
 * reserved pages read as nothing, and reading them faults). Appends [start, end) pairs to `out.out`
 * from index `n`, shifted by -shift; returns the new count, or -1 when the system cannot say (then
 * the whole range counts).
 */
import { populated } from '../sys/pagemap/populated.js';
import { committedRuns } from './windows.js';

/**
 * On Windows the runs are every readable page, touched or not: a page outside them (reserved, or
 * no-access) cannot be read at all, so nothing beside them (a shadow's own pages) adds a page to read.
 */
export const RUNS_ARE_ALL_READABLE = process.platform === 'win32';

export function populatedRuns(start: number, end: number, shift: number, out: { out: Float64Array }, n: number): number {
  return process.platform === 'win32' ? committedRuns(start, end, shift, out, n) : populated(start, end, shift, out, n);
}
