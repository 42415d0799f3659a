/**
 * Runs examples/sqlite-snapshot as a user would (the package imported by name: build first) and
 * checks its log against its own record format, parsed here independently. A file of its own so
 * that the kernel matrix can leave it out: under QEMU's software emulation V8 itself dies running
 * SQLite's wasm (SIGSEGV, SIGTRAP, SIGFPE), with writewatch not tracking at all (measured on
 * 6.12 x86_64 and 7.3.4 arm64-16k guests), so it tests the emulator there, not the kernel. The host
 * runs it on every Node version.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { describeKernel } from './support/kernel.js';
import { CHILD_TIMEOUT } from './support/machine.js';

const ROOT = resolve(__dirname, '..');

function run(example: string, ...args: string[]): string[] {
  const out = execFileSync(process.execPath, [join(ROOT, 'examples', example, 'index.mjs'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT,
  });
  return out.trimEnd().split('\n');
}

describeKernel('70 examples: sqlite-snapshot', () => {
  /** The log's records as the example's format defines them (log.mjs), parsed here independently. */
  function records(file: Buffer) {
    const out: { seq: number; size: number; runs: [number, number][]; data: Buffer; end: number }[] = [];
    for (let at = 0; at + 32 <= file.length; ) {
      const bodyBytes = file.readUInt32LE(at + 20);
      const body = file.subarray(at + 32, at + 32 + bodyBytes);
      const digest = createHash('sha256').update(file.subarray(at, at + 24)).update(body).digest().subarray(0, 8);
      if (file.toString('latin1', at, at + 8) !== 'WWSQLREC' || body.length !== bodyBytes || !digest.equals(file.subarray(at + 24, at + 32))) break;
      const n = file.readUInt32LE(at + 16);
      const runs = Array.from({ length: n }, (_, i) => [body.readUInt32LE(i * 8), body.readUInt32LE(i * 8 + 4)] as [number, number]);
      out.push({ seq: file.readUInt32LE(at + 8), size: file.readUInt32LE(at + 12), runs, data: body.subarray(n * 8), end: at + 32 + bodyBytes });
      at += 32 + bodyBytes;
    }
    return out;
  }
  /** Replays records; `skip` leaves out one run of the last record (a page the tracking missed). */
  function replay(recs: ReturnType<typeof records>, skip = false): string {
    let image = Buffer.alloc(0);
    recs.forEach((r, k) => {
      if (r.size !== image.length) image = Buffer.concat([image.subarray(0, Math.min(r.size, image.length)), Buffer.alloc(Math.max(0, r.size - image.length))]);
      let at = 0;
      r.runs.forEach(([offset, length], i) => {
        if (!(skip && k === recs.length - 1 && i === r.runs.length >> 1)) r.data.copy(image, offset, at, at + length);
        at += length;
      });
    });
    return createHash('sha256').update(image).digest('hex').slice(0, 16);
  }

  it('a SQLite database in the wasm heap, saved page by page and killed mid-run, reopens byte-exact from its log', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ww-sqlite-test-'));
    try {
      const saves = 30;
      const lines = run('sqlite-snapshot', dir, String(saves));
      // Every save the writer made durable, and the one it had begun when killed, if any.
      const printed = new Map<number, { durable: boolean; sha: string }>();
      for (const l of lines.filter((l) => /^save +\d+:/.test(l))) {
        const m = /^save +(\d+): +(?:\d+ runs, +[\d.]+ MiB written|(begun, not durable when killed)), image [\d.]+ MiB, sha256 ([0-9a-f]{16})/.exec(l);
        expect(m, l).not.toBeNull();
        printed.set(Number(m![1]), { durable: !m![2], sha: m![3] });
      }
      // The kill is sent once save <saves> is durable and lands when it lands: a loaded machine's
      // writer may make more saves durable first. Every one up to there, in order, none missing.
      const durable = [...printed].filter(([, p]) => p.durable).map(([k]) => k);
      expect(durable.length).toBeGreaterThanOrEqual(saves + 1);
      expect(durable).toEqual(Array.from({ length: durable.length }, (_, i) => i));
      expect(lines.find((l) => l.startsWith('writer ended by'))).toMatch(/^writer ended by SIGKILL/);
      expect(lines.find((l) => l.startsWith('reopened:'))).toMatch(/integrity_check ok; .*: yes$/);
      expect(lines.at(-1)).toMatch(/^reopened after the crash, byte-exact: yes/);
      // Incremental saves wrote a fraction of the images (each transaction changes ~40 of ~330 pages).
      const [, written, whole] = /wrote ([\d.]+) MiB; whole images would have been ([\d.]+) MiB/.exec(lines.join('\n'))!.map(Number);
      expect(written).toBeLessThan(whole / 2);

      // The log, replayed here: its last complete record is a save the writer began, and the image
      // is the one the writer hashed then.
      const file = readFileSync(join(dir, 'app.db.log'));
      const recs = records(file);
      const last = recs.at(-1)!;
      expect(last.seq).toBeGreaterThanOrEqual(saves);
      expect(replay(recs)).toBe(printed.get(last.seq)?.sha);
      expect(recs.slice(1).some((r) => r.runs.length > 1)).toBe(true); // incremental records, not whole images
      // Negative controls: a page left out of the last record changes the image; a torn last record
      // is dropped by the digest, leaving the save before it.
      expect(replay(recs, true)).not.toBe(printed.get(last.seq)?.sha);
      const torn = records(file.subarray(0, last.end - 1));
      expect(torn.at(-1)!.seq).toBe(recs.at(-2)!.seq);
      expect(replay(torn)).toBe(printed.get(torn.at(-1)!.seq)!.sha);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
