/**
 * No lost write under concurrency: worker threads bump per-page counters in tracked memory while
 * the main thread loops get-with-reset; see test/soak/stress.mjs for the invariant and why it
 * cannot pass by accident. Seconds here; `npm run soak -- --duration 600` runs the long version.
 */
import { afterEach, expect, it } from 'vitest';
import { WriteWatch } from '../src/index.js';
import { describeKernel, PAGE } from './support/kernel.js';
// @ts-expect-error plain-JS harness shared with the soak script
import { runStress } from './soak/stress.mjs';

const PAGES = 512;
const SECONDS = Number(process.env.WRITEWATCH_STRESS_SECONDS ?? 3);

interface StressResult {
  iterations: number;
  writes: number;
  changes: number;
  reported: number;
  lost: number;
  spurious: number;
  late: number;
  finalMissing: number;
  finalExtra: number;
  cleanAfter: number;
  counterTotal: number;
  writerWrites: number;
}

function marker(out: Float64Array, n: number, marks: Uint8Array): void {
  for (let i = 0; i < n; i++) marks[out[i] / PAGE] = 1;
}

let open: WriteWatch | undefined;
afterEach(() => open?.close());

function expectNoLostWrite(r: StressResult): void {
  // Figures for the log: the test's claim is only as strong as the number of writes it checked.
  console.log(
    `stress: ${r.writes} writes in ${r.changes} page-intervals checked over ${r.iterations} get+reset rounds: ` +
      `lost ${r.lost}, spurious ${r.spurious} (late-visible ${r.late})`,
  );
  expect(r.lost).toBe(0);
  expect(r.spurious).toBe(0);
  expect(r.finalMissing).toBe(0);
  expect(r.finalExtra).toBe(0);
  expect(r.cleanAfter).toBe(0);
  expect(r.writerWrites).toBe(r.writes);
  expect(r.counterTotal).toBe(r.writes);
  // A run that checked nothing proves nothing.
  expect(r.iterations).toBeGreaterThan(100);
  expect(r.changes).toBeGreaterThan(1000);
}

describeKernel('50 stress: no lost write with worker threads writing during get({ reset: true })', () => {
  it('WriteWatch.allocate memory, 2 writer threads, getInto with reset', async () => {
    const ww = (open = WriteWatch.allocate(PAGES * PAGE));
    const out = new Float64Array(PAGES);
    const r: StressResult = await runStress({
      address: ww.address,
      pages: PAGES,
      pageSize: PAGE,
      durationMs: SECONDS * 1000,
      getReset: (marks: Uint8Array) => marker(out, ww.getInto(out, { reset: true }), marks),
      getCount: () => ww.get().length,
    });
    expectNoLostWrite(r);
  });

  it('get({ reset: true }) and ranges() agree with the counters too', async () => {
    const ww = (open = WriteWatch.allocate(PAGES * PAGE));
    let round = 0;
    const r: StressResult = await runStress({
      address: ww.address,
      pages: PAGES,
      pageSize: PAGE,
      durationMs: (SECONDS * 1000) / 2,
      writers: 3,
      getReset: (marks: Uint8Array) => {
        // Alternate the allocating entry points; both must reset exactly what they return.
        if (round++ & 1) {
          for (const { offset, length } of ww.ranges({ reset: true })) marks.fill(1, offset / PAGE, (offset + length) / PAGE);
        } else {
          for (const o of ww.get({ reset: true })) marks[o / PAGE] = 1;
        }
      },
      getCount: () => ww.get().length,
    });
    expectNoLostWrite(r);
  });

  // The harness must be able to fail: the two ways of getting it wrong are caught.
  it('catches lost writes: get() then a separate reset() loses writes that land in between', async () => {
    const ww = (open = WriteWatch.allocate(PAGES * PAGE));
    const out = new Float64Array(PAGES);
    const r: StressResult = await runStress({
      address: ww.address,
      pages: PAGES,
      pageSize: PAGE,
      durationMs: 1500,
      getReset: (marks: Uint8Array) => {
        marker(out, ww.getInto(out), marks);
        ww.reset();
      },
      getCount: () => ww.get().length,
    });
    expect(r.lost).toBeGreaterThan(0);
  });

  it('catches reporting everything: a get that returns every page is spurious', async () => {
    const ww = (open = WriteWatch.allocate(PAGES * PAGE));
    const r: StressResult = await runStress({
      address: ww.address,
      pages: PAGES,
      pageSize: PAGE,
      durationMs: 500,
      getReset: (marks: Uint8Array) => {
        ww.reset();
        marks.fill(1);
      },
      getCount: () => ww.get().length,
    });
    expect(r.lost).toBe(0);
    expect(r.spurious).toBeGreaterThan(0);
  });
});
