/** Wall-clock ns between two points of JS, as a double (the BigInt stays outside the timed loop). */
export const now = () => process.hrtime.bigint();
export const since = (t0) => Number(process.hrtime.bigint() - t0);

/** Peak RSS so far, bytes (VmHWM). */
export function peakRss() {
  return Number(/VmHWM:\s+(\d+)/.exec(readStatus())[1]) * 1024;
}

/** VmPTE in bytes: the page tables of this process. */
export function vmPte() {
  return Number(/VmPTE:\s+(\d+)/.exec(readStatus())[1]) * 1024;
}

import { readFileSync } from 'node:fs';
function readStatus() {
  return readFileSync('/proc/self/status', 'utf8');
}
