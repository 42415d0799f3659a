/**
 * Waiting on another process without a clock. `eventually` polls until its condition holds,
 * yielding to the event loop between polls, and has no bound of its own: a process that never
 * gets there is a hang, and vitest's testTimeout (vitest.config.ts) is the bound on a hang, never a
 * window a slow machine could miss. `lingering` starts a child that lives until it is killed, so no
 * test depends on a child outliving it by some number of seconds.
 */
import { type ChildProcess, spawn } from 'node:child_process';

/** Resolves with `probe()`'s value once `ok` holds for it; a probe that throws counts as not yet. */
export async function eventually<T>(probe: () => T, ok: (value: T) => boolean = Boolean): Promise<T> {
  for (;;) {
    try {
      const v = probe();
      if (ok(v)) return v;
    } catch {
      /* not there yet (e.g. /proc/<pid>/... not readable during exec) */
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A child that lives until killed: `cat` reading a pipe this process holds and never writes.
 * Its comm is `cat` once it has exec'd. `shell`: run this shell command instead, with the same
 * stdin (e.g. `sleep 0 & exec cat`, a parent that never reaps).
 */
export function lingering(shell?: string): ChildProcess {
  const child = shell === undefined ? spawn('cat', [], { stdio: ['pipe', 'ignore', 'ignore'] }) : spawn('sh', ['-c', shell], { stdio: ['pipe', 'ignore', 'ignore'] });
  child.stdin!.on('error', () => {}); // EPIPE when it is killed first
  return child;
}
