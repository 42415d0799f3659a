/**
 * The one place that picks a mechanism. 'write-protect' is the platform's own: userfaultfd +
 * PAGEMAP_SCAN on Linux, kernel32's GetWriteWatch on Windows (fresh memory only: track() there
 * is compare's); elsewhere a twin that says why it cannot run. 'compare' is the same
 * everywhere it runs. 'auto' is write-protect where it can serve the operation, else compare: one
 * rule for WriteWatch.allocate, WriteWatch.track and probe().
 */
import { UnsupportedError } from '../errors.js';
import { compare } from './compare/index.js';
import { kernel32Mechanism } from './kernel32/index.js';
import type { Mechanism, MechanismName } from './contract.js';
import { unsupported } from './unsupported.js';
import { writeProtect } from './write-protect/index.js';

export type { Mechanism, MechanismName, Tracker, Memory, Query, Sink, ClaimHook, Proof } from './contract.js';
export { newQuery } from './contract.js';
/** writewatch/win32's process-wide allocations: write-protect trackers any thread can use. */
export { adoptTracker, shareTracker, unshareTracker } from './write-protect/adopt.js';

/** What `options.mechanism` may say. */
export type MechanismChoice = MechanismName | 'auto';

const native: Mechanism =
  process.platform === 'linux'
    ? writeProtect
    : process.platform === 'win32'
      ? kernel32Mechanism
      : unsupported(`write-protect is not available on ${process.platform}: writewatch runs on Linux and Windows`);

/** The mechanism of that name on this platform. */
export function mechanismNamed(name: MechanismName): Mechanism {
  return name === 'compare' ? compare : native;
}

/**
 * Runs `open` with the chosen mechanism; under 'auto', with compare when write-protect cannot serve
 * it (ERR_WRITEWATCH_UNSUPPORTED, before anything was tracked). A resource error (EMFILE, ENOMEM, a
 * full registry) is not a missing feature: it is thrown under 'auto' too, as probe() reports it.
 */
export function withMechanism<T>(choice: MechanismChoice, open: (m: Mechanism) => T): T {
  if (choice !== 'auto') return open(mechanismNamed(choice));
  try {
    return open(native);
  } catch (e) {
    if (autoFallsBack(e)) return open(compare);
    throw e;
  }
}

/** Whether 'auto' turns to compare after this failure of write-protect. */
export function autoFallsBack(e: unknown): boolean {
  return e instanceof UnsupportedError;
}
