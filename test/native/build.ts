/**
 * Compiles the C helpers of test/native with `cc` at test time, into the git-ignored test/build.
 * Without a compiler, tests that need one skip locally and fail under CI=true (a CI machine must
 * not pass by skipping).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
export const buildDir = fileURLToPath(new URL('../build/', import.meta.url));

export const cc: string | null = (() => {
  for (const name of [process.env.CC, 'cc', 'gcc', 'clang']) {
    if (name && spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0) return name;
  }
  return null;
})();

/** Builds test/native/<name>.c into test/build/<name> (or <name>.so with `shared`); returns the path. */
export function compile(name: string, opts: { shared?: boolean } = {}): string {
  if (!cc) throw new Error('no C compiler (cc, gcc or clang) found');
  mkdirSync(buildDir, { recursive: true });
  const src = `${here}${name}.c`;
  const out = `${buildDir}${name}${opts.shared ? '.so' : ''}`;
  let fresh = false;
  try {
    fresh = statSync(out).mtimeMs >= statSync(src).mtimeMs;
  } catch {
    /* not built yet */
  }
  if (!fresh) {
    // Build to a private name and rename: test files running in parallel may build the same helper.
    const tmp = `${out}.${process.pid}.tmp`;
    execFileSync(cc, ['-O2', '-Wall', '-Werror', ...(opts.shared ? ['-shared', '-fPIC'] : []), '-o', tmp, src], { stdio: 'pipe' });
    execFileSync('mv', ['-f', tmp, out]);
  }
  return out;
}
