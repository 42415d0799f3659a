/**
 * The write-protect mechanism of a platform that has none (macOS, FreeBSD …): the same shape as a
 * real one, so that callers never branch on the platform; every call says why it cannot run.
 */
import { UnsupportedError } from '../errors.js';
import type { Mechanism } from './contract.js';

export function unsupported(reason: string): Mechanism {
  const fail = (): never => {
    throw new UnsupportedError(reason);
  };
  return {
    name: 'write-protect',
    unavailable: () => reason,
    trackUnavailable: () => reason,
    allocate: fail,
    track: fail,
  };
}
