/**
 * viewMemory on the process space: an ArrayBuffer over a live allocation (views.ts says how views
 * and MEM_RELEASE meet across threads).
 */
import { processSpace } from './space.js';
import { makeView } from './views.js';

/** An ArrayBuffer over [start, start + size), or undefined unless inside one live allocation. */
export function processView(start: number, size: number): ArrayBuffer | undefined {
  const space = processSpace();
  return space.locked(() => {
    const r = space.viewable(start, start + size);
    return r ? makeView(r.k, r.gen, start, size) : undefined;
  });
}
