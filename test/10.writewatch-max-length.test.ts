/**
 * allocate's size limit per Node version (issue 10): buffer.constants.MAX_LENGTH, 2^32 on Node 20
 * and 2^53 - 1 on 22, 24 and 26, checked before anything is mapped, so the answer is
 * ERR_OUT_OF_RANGE naming this Node's bound and never ENOMEM, however little memory the machine
 * has. Shown in a child whose address space is capped at 3 GiB (ulimit -v): an mmap of the request
 * would fail there, so an mmap before the check shows as ENOMEM.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { constants } from 'node:buffer';
import { expect, it } from 'vitest';
import { CHILD_TIMEOUT } from './support/machine.js';
import { WriteWatch } from '../src/index.js';
import { describeKernel, PAGE } from './support/kernel.js';

const root = join(import.meta.dirname, '..');

describeKernel('WriteWatch.allocate past buffer.constants.MAX_LENGTH', () => {
  it('is ERR_OUT_OF_RANGE naming this Node\'s bound, before mmap (a child capped at 3 GiB of address space)', () => {
    const source = `
      import { WriteWatch } from 'writewatch';
      import { constants } from 'node:buffer';
      const largest = Math.floor(constants.MAX_LENGTH / ${PAGE}) * ${PAGE};
      const out = [];
      for (const n of [largest + 1, 5 * 2 ** 30, 2 ** 50]) {
        const allowed = Math.ceil(n / ${PAGE}) * ${PAGE} <= constants.MAX_LENGTH;
        try { WriteWatch.allocate(n).close(); out.push([allowed, 'allocated']); } catch (e) { out.push([allowed, e.code, e.message]); }
      }
      console.log(JSON.stringify({ max: constants.MAX_LENGTH, out }));
    `;
    const r = spawnSync('bash', ['-c', `ulimit -v ${3 * 1024 * 1024} && exec "$0" --input-type=module -e "$1"`, process.execPath, source], {
      cwd: root,
      encoding: 'utf8',
      timeout: CHILD_TIMEOUT,
    });
    expect(r.stderr).toBe('');
    const { max, out } = JSON.parse(r.stdout);
    const bound = max === 2 ** 32 ? '2 ** 32' : '2 ** 53 - 1';
    expect(out.length).toBe(3);
    expect(out[0][0]).toBe(false); // one byte past the largest whole-page length: refused everywhere
    for (const [allowed, code, message] of out) {
      if (allowed) {
        // Node 22+: 5 GiB and 2^50 are within MAX_LENGTH; what the capped kernel cannot map is ENOMEM.
        expect(code).toBe('ENOMEM');
        continue;
      }
      expect(code).toBe('ERR_OUT_OF_RANGE');
      expect(message).toContain(`<= ${bound} (buffer.constants.MAX_LENGTH`);
      expect(message).toContain(`Node ${process.versions.node}`);
    }
  });

  it('allocate(0) and a fraction name the same, version-true bound (Node 20 named 2^53 - 1)', () => {
    const bound = constants.MAX_LENGTH === 2 ** 32 ? '2 ** 32' : '2 ** 53 - 1';
    for (const v of [0, 1.5, -PAGE]) {
      let err: any;
      try {
        WriteWatch.allocate(v);
      } catch (e) {
        err = e;
      }
      expect(err?.code).toBe('ERR_OUT_OF_RANGE');
      expect(err?.message).toContain(`an integer >= 1 and <= ${bound} (buffer.constants.MAX_LENGTH`);
    }
  });
});
