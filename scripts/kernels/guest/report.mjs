// Guest side: turns the probe's JSON, vitest's JSON report and the ratio's JSON into "@@WW ..."
// lines for the host's table. `report.mjs suite FILE SECONDS` exits 1 when a test failed or
// never finished;
// `report.mjs gated FILE SECONDS` (an unsupported kernel under CI=true) exits 1 unless some tests
// failed and every failure is the feature gate's. `report.mjs crashed FILE` exits 0 when the run
// crashed without a single test failing (see there).
import { readFileSync } from 'node:fs';

const [what, file, extra] = process.argv.slice(2);
const GATE = 'needs userfaultfd WP_ASYNC and PAGEMAP_SCAN (CI=true: missing features fail, never skip)';
const line = (fields) => console.log(`@@WW ${Object.entries(fields).map(([k, v]) => `${k}=${String(v).replace(/\s+/g, '_')}`).join(' ')}`);

if (what === 'probe') {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  line({ probe: p.supported ? 'supported' : 'unsupported', exit: extra, page: p.pageSize, categories: `0x${(p.categories ?? 0).toString(16)}` });
  if (!p.supported) console.log(`@@WW reasons ${(p.reasons ?? []).join('; ')}`);
} else if (what === 'crashed') {
  // Exit 0 when the run only crashed: tests that never finished (a worker died: V8 under arm64 TCG
  // does, measured) or a file that never loaded, and not one test that ran and failed. suite.sh
  // then runs the suite once more; a run with a real failure is never run again.
  let j;
  try {
    j = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    process.exit(0); // no report at all: vitest itself died
  }
  let crashed = false, failedTests = 0;
  for (const f of j.testResults) {
    if (f.assertionResults.length === 0 && f.status === 'failed') crashed = true;
    for (const t of f.assertionResults) {
      if (t.status === 'pending') crashed = true;
      else if (t.status === 'failed') failedTests++;
    }
  }
  process.exit(crashed && failedTests === 0 ? 0 : 1);
} else if (what === 'ratio') {
  const r = JSON.parse(readFileSync(file, 'utf8'));
  line({ ratio_get: r.ratio.get.toFixed(2), ratio_getInto: r.ratio.getInto.toFixed(2), c_ms: (r.medianNs.C / 1e6).toFixed(2), pages: r.pages, written: r.written });
} else {
  let j;
  try {
    j = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    line({ suite: 'no-report', error: e.message });
    process.exit(1);
  }
  const failed = [];
  const skips = [];
  let passed = 0, skipped = 0;
  for (const f of j.testResults) {
    if (f.assertionResults.length === 0 && f.status === 'failed') failed.push({ file: f.name, title: '(file failed to load)', msg: f.message });
    for (const t of f.assertionResults) {
      if (t.status === 'passed') passed++;
      else if (t.status === 'failed') failed.push({ file: f.name, title: [...t.ancestorTitles, t.title].join(' > '), gate: t.title === GATE, msg: t.failureMessages?.[0] ?? '' });
      // 'pending': started or queued but never finished (its worker died, measured under arm64
      // TCG): a failure, never a skip the allowance could absorb.
      else if (t.status === 'pending') failed.push({ file: f.name, title: [...t.ancestorTitles, t.title].join(' > '), gate: false, msg: 'never finished: its vitest worker died or the run ended first' });
      else {
        skipped++;
        skips.push(`${f.name.replace(/^.*\/project\//, '')} > ${[...t.ancestorTitles, t.title].join(' > ')}`);
      }
    }
  }
  const gate = failed.filter((f) => f.gate).length;
  line({ passed, failed: failed.length, skipped, gate_failures: gate, seconds: extra });
  for (const f of failed) {
    if (f.gate && what === 'gated') continue;
    const msg = String(f.msg).split('\n').filter((l) => l.trim() && !/STACK_TRACE_ERROR|^\s*at /.test(l))[0] ?? '';
    console.log(`@@WW fail ${f.file.replace(/^.*\/project\//, '')} > ${f.title} :: ${msg.trim().slice(0, 240)}`);
  }
  // The host holds each kernel's allowance of skips; it sees which tests they were here.
  for (const s of skips) console.log(`@@WW skip ${s.slice(0, 300)}`);
  if (what === 'gated') {
    const ok = gate > 0 && gate === failed.length;
    line({ gated: ok ? 'ok' : 'BAD', gate_failures: gate, other_failures: failed.length - gate });
    process.exit(ok ? 0 : 1);
  }
  process.exit(failed.length === 0 && passed > 0 ? 0 : 1);
}
