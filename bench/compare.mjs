#!/usr/bin/env node
/**
 * `node bench/compare.mjs [--quick] [--json FILE]` (after `npm run build`): the compare mechanism's
 * rows of `npm run bench` alone (bench/lib/compare.mjs). Needs no userfaultfd: runs where
 * write-protect is unsupported too. Prints markdown; progress goes to stderr.
 */
import { writeFileSync } from 'node:fs';
import { getpagesize } from './lib/compare-page.mjs';
import { compareBench, compareMarkdown } from './lib/compare.mjs';

const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--json') i++;
  else if (argv[i] !== '--quick') {
    process.stderr.write(`usage: node bench/compare.mjs [--quick] [--json FILE]\n`);
    process.exit(argv[i] === '--help' || argv[i] === '-h' ? 0 : 2);
  }
}
const t0 = Date.now();
const log = (msg) => process.stderr.write(`[compare ${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);
const res = compareBench({ quick: argv.includes('--quick'), log, page: getpagesize() });
if (argv.includes('--json')) writeFileSync(argv[argv.indexOf('--json') + 1], JSON.stringify(res, null, 1));
process.stdout.write(compareMarkdown(res));
