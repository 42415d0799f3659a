// Placeholder: implemented by its own change.
export const usage = 'writewatch scan';
export async function run(_args: string[]): Promise<number> {
  process.stderr.write('writewatch scan: not implemented yet\n');
  return 1;
}
