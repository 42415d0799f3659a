/**
 * Prints one plain closing line, "N passed, N failed, N skipped", after vitest's own summary, so
 * that tools reading only the last lines of a run can count the tests. A test that never finished
 * (its worker died) counts as failed: scripts/test-node.sh allows a number of skips per version.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0, failed = 0, skipped = 0, unfinished = 0;
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        // Never finished (its worker died): counted as failed, never as a skip an allowance absorbs.
        else if (state === 'pending') (failed++, unfinished++);
        else skipped++;
      }
      if (m.state() === 'failed' && m.children.size === 0) failed++; // a file that failed to load
    }
    if (unfinished > 0) process.stdout.write(`\n${unfinished} tests never finished (a vitest worker died?): counted as failed`);
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
