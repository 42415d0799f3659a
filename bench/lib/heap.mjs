/** getInto's heap growth per call, measured in a child with --expose-gc and a young generation big enough that a loop of calls runs without a scavenge. */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export function heapGrowth(iters) {
  const child = fileURLToPath(new URL('./heap-child.mjs', import.meta.url));
  const out = execFileSync(process.execPath, ['--expose-gc', '--min-semi-space-size=128', '--max-semi-space-size=128', child, String(iters)], { encoding: 'utf8' });
  return JSON.parse(out);
}
