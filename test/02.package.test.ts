/**
 * Both entry points resolve by package name from inside the repository (self-reference through
 * package.json `exports`) once `npm test` has built dist/.
 */
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';

function exportsOf(specifier: string): string[] {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', `
    const m = await import(${JSON.stringify(specifier)});
    console.log(JSON.stringify(Object.keys(m).sort()));
  `], { cwd: new URL('..', import.meta.url), encoding: 'utf8' });
  return JSON.parse(out) as string[];
}

it("'writewatch' exports the JS-first API, the errors and the low-level layers", () => {
  expect(exportsOf('writewatch')).toEqual(expect.arrayContaining([
    'WriteWatch', 'probe', 'uffd', 'pagemap',
    'WriteWatchError', 'UnsupportedError', 'ClosedError', 'LostError', 'SystemCallError',
  ]));
});

it("'writewatch/win32' exports the Windows-shaped functions and constants", () => {
  expect(exportsOf('writewatch/win32')).toEqual(expect.arrayContaining([
    'virtualAlloc', 'virtualFree', 'virtualProtect', 'getWriteWatch', 'resetWriteWatch',
    'ntGetWriteWatch', 'ntResetWriteWatch', 'getLastError', 'viewMemory',
    'WRITE_WATCH_FLAG_RESET', 'MEM_COMMIT', 'MEM_RESERVE', 'MEM_DECOMMIT', 'MEM_RELEASE', 'MEM_WRITE_WATCH',
    'PAGE_NOACCESS', 'PAGE_READONLY', 'PAGE_READWRITE', 'ERROR_INVALID_PARAMETER', 'ERROR_NOACCESS',
    'ERROR_NOT_SUPPORTED', 'ERROR_INVALID_ADDRESS', 'STATUS_SUCCESS', 'STATUS_INVALID_PARAMETER',
    'STATUS_ACCESS_VIOLATION', 'STATUS_NOT_SUPPORTED',
  ]));
});
