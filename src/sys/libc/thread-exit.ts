/**
 * Per-thread cleanup. A worker's isolate is torn down without running FinalizationRegistry
 * callbacks, so descriptors a worker opened (its pagemap fd, its userfaultfds) would outlive it:
 * 50 workers, 50 leaked fds, and a worker pool ends in EMFILE. The worker's `process` emits 'exit'
 * when it ends normally or calls process.exit(), so that is where they are closed. worker.terminate()
 * runs no handler at all (measured on Node 20, idle or busy): the descriptor table of
 * process/registry.ts covers that. On the main thread nothing is installed: the process's exit
 * frees all.
 */
import { isMainThread } from 'node:worker_threads';

const hooks = new Set<() => void>();
let installed = false;

/** Runs `fn` once when this worker thread ends; a no-op on the main thread. */
export function atThreadExit(fn: () => void): void {
  if (isMainThread) return;
  hooks.add(fn);
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const f of hooks) {
      try {
        f();
      } catch {
        /* already gone: the thread is ending anyway */
      }
    }
    hooks.clear();
  });
}
