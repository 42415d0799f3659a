#!/usr/bin/env node
/**
 * The `writewatch` command. Each subcommand lives in its own module exporting
 * `run(args: string[]): Promise<number>` (the exit status) and `usage: string`.
 */
const commands: Record<string, () => Promise<{ run(args: string[]): Promise<number>; usage: string }>> = {
  probe: () => import('./probe.js'),
  demo: () => import('./demo.js'),
  scan: () => import('./scan.js'),
};

// A reader that goes away (`writewatch demo | head`) is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(0);
});

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const load = name !== undefined ? commands[name] : undefined;
  if (!load) {
    const usages = await Promise.all(Object.values(commands).map(async (c) => (await c()).usage));
    process.stderr.write(`usage:\n${usages.map((u) => `  ${u}`).join('\n')}\n`);
    return name === undefined || name === '--help' || name === '-h' ? 0 : 2;
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
