/**
 * Importing the package has no side effects a platform can trip on (issue 23): on Linux, and with
 * process.platform reading as Windows, macOS or FreeBSD before the first import, both entry points
 * import, no native library is loaded at import (kernel32.dll above all: only a call on Windows
 * loads it), and probe() answers without throwing. Off Linux and Windows, allocate refuses with
 * ERR_WRITEWATCH_UNSUPPORTED. The platform is faked (the only fake here): what runs is the import
 * graph, which is pure JavaScript until something is called. The real Windows run is
 * test/06.package-win32 and the Windows subset under Wine.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { CHILD_TIMEOUT } from './support/machine.js';

const root = join(import.meta.dirname, '..');
/** What 'koffi' resolves to from the package (a data: URL cannot resolve a bare name). */
const koffiUrl = pathToFileURL(join(root, 'node_modules/koffi/index.js')).href;

function importAs(platform: string): Record<string, unknown> {
  // Runs before the package's first import: fakes the platform, and records every koffi.load.
  const preload = `
    import koffi from ${JSON.stringify(koffiUrl)};
    globalThis.__loads = [];
    const load = koffi.load;
    koffi.load = (...a) => { globalThis.__loads.push(String(a[0])); return load.apply(koffi, a); };
    ${platform === process.platform ? '' : `Object.defineProperty(process, 'platform', { value: ${JSON.stringify(platform)} });`}
  `;
  const main = `
    const ww = await import('writewatch');
    const win32 = await import('writewatch/win32');
    const atImport = [...globalThis.__loads];
    let probe, allocate = null;
    try { const p = ww.probe(); probe = { supported: p.supported, reasons: p.reasons.join('; ') }; } catch (e) { probe = { threw: String(e) }; }
    if (process.platform !== 'linux' && process.platform !== 'win32') {
      try { ww.WriteWatch.allocate(4096); allocate = 'allocated'; } catch (e) { allocate = e.code; }
    }
    console.log(JSON.stringify({ main: typeof ww.WriteWatch, win32: typeof win32.getWriteWatch, atImport, probe, allocate, loads: globalThis.__loads }));
  `;
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(preload)}`, '--input-type=module', '-e', main], {
    cwd: root,
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT,
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

it(`${process.platform}: both entry points import and load no native library until called`, () => {
  const r = importAs(process.platform);
  expect(r).toMatchObject({ main: 'function', win32: 'function', atImport: [] });
  expect(r.probe).not.toHaveProperty('threw');
  // The recorder works: probe() loads libc (a negative control for the empty list at import).
  if (process.platform === 'linux') expect(r.loads).toContain('libc.so.6');
});

for (const platform of ['darwin', 'freebsd']) {
  it(`${platform}: both entry points import, probe() says unsupported naming the platform, allocate refuses`, () => {
    const r = importAs(platform);
    expect(r).toMatchObject({ main: 'function', win32: 'function', atImport: [], allocate: 'ERR_WRITEWATCH_UNSUPPORTED' });
    expect(r.probe).toMatchObject({ supported: false, reasons: expect.stringContaining(platform) });
  });
}

it('win32: both entry points import without loading kernel32.dll (or anything) at import', () => {
  const r = importAs('win32');
  expect(r).toMatchObject({ main: 'function', win32: 'function', atImport: [] });
});
