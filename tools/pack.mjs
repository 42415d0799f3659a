// npm's `prepack` and `postpack` steps (`npm pack`, `npm publish`): build dist/, and ship a
// package.json without `scripts`.
//
// Why strip them: every script here is for a clone of the repository (build, test, bench, the
// kernel matrix, `prepare`); their files are not in the tarball. npm 11 lists a dependency's
// `prepare` among the install scripts to approve even when installing a tarball, and would do so
// for a file the tarball does not hold. `prepare` itself stays in the repository's package.json:
// `npm install` of a git URL or of a folder builds dist/ with it.
//
// Why not clean-pkg-json (which strips fields in `prepack`): it rewrites package.json and leaves it
// rewritten, so a local `npm pack` would leave the working tree modified. Here `postpack` puts the
// original back; the copy lives in node_modules/.cache, and a `prepack` that finds it (a pack that
// died half way) restores it first.
//
//   node tools/pack.mjs prepack | postpack
import { execSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const SAVED = 'node_modules/.cache/writewatch-pack/package.json';
const step = process.argv[2];

function restore() {
  if (!existsSync(SAVED)) return;
  copyFileSync(SAVED, 'package.json');
  rmSync(SAVED);
}

if (step === 'prepack') {
  restore();
  // `git clone && npm pack` must still ship the build: prepare.mjs installs the dev dependencies
  // when the compiler is missing, then builds (on stderr: `npm pack --json` owns stdout).
  execSync('node tools/prepare.mjs', { stdio: ['ignore', 2, 2] });
  const text = readFileSync('package.json', 'utf8');
  const manifest = JSON.parse(text);
  delete manifest.scripts;
  mkdirSync('node_modules/.cache/writewatch-pack', { recursive: true });
  writeFileSync(SAVED, text);
  writeFileSync('package.json', JSON.stringify(manifest, null, 2) + '\n');
} else if (step === 'postpack') {
  restore();
} else {
  console.error('usage: node tools/pack.mjs prepack | postpack');
  process.exit(2);
}
