// npm's `prepare` step: runs on `npm ci`/`npm install` in a clone, `npm pack`/`npm publish`, and
// installs from git or from a folder. It builds dist/, printing on stderr (`npm pack --json` owns
// stdout). In a fresh clone nobody has installed the dev dependencies yet (`git clone && npm pack`
// must still ship the build), so install them first when the compiler is missing;
// --ignore-scripts keeps that install from running prepare again.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const run = (cmd) => execSync(cmd, { stdio: ['ignore', 2, 2] });
if (!existsSync('node_modules/typescript/package.json')) {
  console.error('writewatch prepare: installing the dev dependencies to build dist/');
  run('npm ci --ignore-scripts --no-audit --no-fund');
}
run('npm run build');
