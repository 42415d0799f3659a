/**
 * Per-thread resources end with their thread: a worker that used the library (its pagemap fd, its
 * userfaultfds, MEM_WRITE_WATCH allocations) gives every descriptor back when it ends, whether it
 * returns, calls process.exit() or is terminated (waiting, or in the middle of a loop: then it
 * runs no exit hook, and the next descriptor the library opens in any thread closes its leftovers), and whether or not it closed what it
 * opened. Run in a child process so that only its own workers' descriptors are counted.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { CHILD_TIMEOUT } from './support/machine.js';
import { describeKernel, PAGE } from './support/kernel.js';

const script = fileURLToPath(new URL('./native/worker-fds.mjs', import.meta.url));
const WORKERS = 50;

describeKernel('50 resources per thread: a worker leaves no descriptor behind', () => {
  it(`${WORKERS} workers that allocate, track and end four ways leave the fd count where it was`, () => {
    const r = spawnSync(process.execPath, [script, String(WORKERS)], { encoding: 'utf8', timeout: CHILD_TIMEOUT });
    expect(r.status, r.stderr).toBe(0);
    const { before, lingering, after, answers } = JSON.parse(r.stdout);
    console.log(`${WORKERS} workers: fds ${before} -> ${lingering} (before the next library call) -> ${after}`);
    // Each worker really tracked (the script writes page 1 of 4096-byte pages; PAGE may be larger).
    expect(answers).toHaveLength(WORKERS);
    for (const a of answers) expect(a).toEqual([Math.floor(4096 / PAGE) * PAGE]);
    // The last worker was terminated mid-loop: its pagemap fd and userfaultfd outlive it...
    expect(lingering).toBeGreaterThan(before);
    // ...until the library opens its next descriptor. A leak of one per worker would be 50 here.
    expect(after).toBe(before);
  });
});
