/**
 * What a tracked plain buffer reports, whose first and last pages are partly other memory (malloc's
 * header, or neighbouring heap objects when the buffer came from malloc's heap rather than a mapping
 * of its own, which depends on the process's history): those two pages may also be reported for a
 * write beside the buffer. Never a write missed: every expected page must be there, and anything
 * else only at the first or last page offset.
 */
import { expect } from 'vitest';

export function expectReported(got: number[], want: number[], edges: { first: number; last: number }): void {
  for (const p of want) expect(got, `page ${p} missing from ${JSON.stringify(got)}`).toContain(p);
  const extra = got.filter((p) => !want.includes(p));
  for (const p of extra) expect([edges.first, edges.last], `page ${p} reported but not written`).toContain(p);
}

/** The first and last page offsets a tracked target's pages are reported at. */
export function edgesOf(address: number, tracked: { offset: number; length: number }, page: number): { first: number; last: number } {
  const last = Math.floor((address + tracked.offset + tracked.length - 1) / page) * page - address;
  return { first: tracked.offset, last: Math.max(last, tracked.offset) };
}
