/**
 * Out-parameters given to the forwarded calls. Windows writes through a pointer; here a `{ value }`
 * box or an array is written after kernel32 returned, so user code (getters, setters, Proxy traps)
 * can only run before the call (reading the inputs, once) or after it (the stores, last). A box
 * whose `value` cannot be read and written back (frozen, getter-only, a throwing Proxy) is an
 * unwritable pointer, which Windows answers as it answers NULL: such a box is passed to kernel32
 * as NULL, so the error and its place in Windows' check order are kernel32's own.
 */
import { types } from 'node:util';
import type { Box } from '../args.js';

/**
 * True when storing into `box.value` can neither throw nor run user code: an ordinary object (no
 * Proxy) whose own `value` is a writable data property. Other boxes passed the probe, yet their
 * setter may still throw at the store: callers that cannot undo a call keep what to undo first.
 */
export function plainBox(box: Box): boolean {
  if (types.isProxy(box)) return false;
  const d = Object.getOwnPropertyDescriptor(box, 'value');
  return d !== undefined && 'value' in d && d.writable === true;
}
