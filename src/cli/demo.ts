// Placeholder: implemented by its own change.
export const usage = 'writewatch demo';
export async function run(_args: string[]): Promise<number> {
  process.stderr.write('writewatch demo: not implemented yet\n');
  return 1;
}
