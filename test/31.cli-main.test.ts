/**
 * The `writewatch` command line itself: --version, help, what a wrong command line prints, and
 * the exit codes docs/cli.md documents (0 success, 1 a "no" or a failure, 2 a wrong command line).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHILD_TIMEOUT } from './support/machine.js';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'dist', 'cli', 'main.js');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: CHILD_TIMEOUT });
  expect(r.error).toBeUndefined();
  return r;
}

describe('31 the writewatch command line', () => {
  it('--version and -v print the package version and exit 0', () => {
    for (const flag of ['--version', '-v']) {
      const r = cli(flag);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`${pkg.version}\n`);
      expect(r.stderr).toBe('');
    }
  });

  it('help, --help and -h print the usage of every command on stdout and exit 0', () => {
    for (const flag of ['help', '--help', '-h']) {
      const r = cli(flag);
      expect(r.status, flag).toBe(0);
      for (const c of ['probe', 'demo', 'scan']) expect(r.stdout).toMatch(new RegExp(`writewatch ${c}`));
      expect(r.stdout).toMatch(/writewatch --version/);
      expect(r.stderr).toBe('');
    }
  });

  it('help <command> prints that command only; help of an unknown command is exit 2', () => {
    const r = cli('help', 'scan');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: writewatch scan/);
    expect(r.stdout).not.toMatch(/writewatch probe/);
    const bad = cli('help', 'nope');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^writewatch help: unknown command 'nope'\nusage:/);
  });

  it('help <command> prints that command\'s paragraph: what it does, every option of its usage explained, its exit status', () => {
    for (const c of ['probe', 'demo', 'scan']) {
      const r = cli('help', c);
      expect(r.status, c).toBe(0);
      const [first, ...rest] = r.stdout.trimEnd().split('\n');
      expect(first).toMatch(new RegExp(`^usage: writewatch ${c}`));
      const body = rest.join('\n');
      expect(body.split('\n').filter((l) => l.trim()).length, c).toBeGreaterThanOrEqual(5); // a paragraph, not the usage line again
      // Each option of the usage line has a line of its own that explains it.
      for (const [opt] of first.matchAll(/--[a-z-]+/g)) expect(body, `${c} ${opt}`).toMatch(new RegExp(`^ +${opt}\\b.*\\S`, 'm'));
      // `<command> --help` prints the same.
      expect(cli(c, '--help').stdout, c).toBe(r.stdout);
    }
    // Negative control: the list's usage alone (what `help scan` printed before) fails the paragraph check.
    const list = cli('help').stdout.split('\n').filter((l) => /writewatch scan/.test(l)).join('\n');
    expect(list.split('\n').length).toBeLessThan(5);
  });

  it('an unknown command says what was wrong, then the usage, on stderr, exit 2', () => {
    const r = cli('frobnicate', '--x');
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^writewatch: unknown command 'frobnicate'\nusage:\n {2}writewatch probe/);
  });

  it('no command is a wrong command line too: exit 2, and it says so', () => {
    const r = cli();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^writewatch: no command given\nusage:/);
  });

  it('a bad option of a command is exit 2; the exit code table in docs/cli.md lists 0, 1 and 2', () => {
    expect(cli('demo', '--frames', 'x').status).toBe(2);
    expect(cli('scan', '--nope').status).toBe(2);
    const doc = readFileSync(join(root, 'docs/cli.md'), 'utf8');
    const table = doc.slice(doc.indexOf('## Exit codes'));
    for (const code of ['0', '1', '2']) expect(table).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
  });
});
