/**
 * The `mechanism` option of allocate() and track(): how written pages are found.
 * - 'write-protect' (default): the kernel's async write-protect; every written page, exactly.
 * - 'compare': a shadow copy compared page by page; the pages whose bytes changed.
 * - 'auto': write-protect where the kernel and sandbox offer it, else compare.
 */
import { InvalidArgTypeError, InvalidArgValueError } from '../errors.js';

/** What a WriteWatch uses (`ww.mechanism`). */
export type Mechanism = 'write-protect' | 'compare';

export const MECHANISMS = ['write-protect', 'compare', 'auto'] as const;

export interface MechanismOptions {
  /** 'write-protect' (default), 'compare' or 'auto'. */
  mechanism?: Mechanism | 'auto';
}

/** The checked `options.mechanism` ('write-protect' when absent); `options` must be an object when given. */
export function checkMechanism(options: unknown): Mechanism | 'auto' {
  if (options === undefined) return 'write-protect';
  if (options === null || typeof options !== 'object') throw new InvalidArgTypeError('options', 'of type object', options);
  const m = (options as MechanismOptions).mechanism;
  if (m === undefined) return 'write-protect';
  if (!(MECHANISMS as readonly unknown[]).includes(m)) {
    throw new InvalidArgValueError('options.mechanism', m, `must be one of: ${MECHANISMS.map((x) => `'${x}'`).join(', ')}`);
  }
  return m as Mechanism | 'auto';
}
