/**
 * The `mechanism` option of allocate() and track(): how written pages are found.
 * - 'write-protect' (default): the platform's own write tracking (userfaultfd on Linux); every
 *   written page, exactly.
 * - 'compare': a shadow copy compared page by page; the pages whose bytes changed.
 * - 'auto': write-protect where the platform and sandbox offer it, else compare.
 */
import type { MechanismName } from '../mechanisms/index.js';

/** What a WriteWatch uses (`ww.mechanism`). */
export type Mechanism = MechanismName;

export interface MechanismOptions {
  /** 'write-protect' (default), 'compare' or 'auto'. */
  mechanism?: Mechanism | 'auto';
}
