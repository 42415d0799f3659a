#!/usr/bin/env node
/**
 * The `writewatch` command. Each subcommand lives in its own module exporting
 * `run(args: string[]): Promise<number>` (the exit status) and `usage: string`.
 * Exit status: 0 success, 1 a "no" answer or a failure, 2 a wrong command line (docs/cli.md).
 */
import { readFileSync } from 'node:fs';

/** `usage`: one line for the list; `help`: the paragraph `writewatch help <command>` prints. */
const commands: Record<string, () => Promise<{ run(args: string[]): Promise<number>; usage: string; help: string }>> = {
  probe: () => import('./probe.js'),
  demo: () => import('./demo.js'),
  scan: () => import('./scan.js'),
};

const HELP = ['help', '--help', '-h'];
const VERSION = ['--version', '-v'];

// A reader that goes away (`writewatch demo | head`) is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(0);
});

async function usage(): Promise<string> {
  const usages = await Promise.all(Object.values(commands).map(async (c) => (await c()).usage));
  return `usage:\n${usages.map((u) => `  ${u}`).join('\n')}\n  writewatch help [command]\n  writewatch --version\n`;
}

/** The version from the package's own package.json (two levels up from dist/cli/main.js). */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name !== undefined && VERSION.includes(name)) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (name !== undefined && HELP.includes(name)) {
    const topic = args[0] !== undefined ? commands[args[0]] : undefined;
    if (args[0] !== undefined && !topic) {
      process.stderr.write(`writewatch help: unknown command '${args[0]}'\n${await usage()}`);
      return 2;
    }
    process.stdout.write(topic ? `${(await topic()).help}\n` : await usage());
    return 0;
  }
  const load = name !== undefined ? commands[name] : undefined;
  if (!load) {
    const what = name === undefined ? 'no command given' : `unknown command '${name}'`;
    process.stderr.write(`writewatch: ${what}\n${await usage()}`);
    return 2;
  }
  return (await load()).run(args);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    process.stderr.write(`writewatch: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
