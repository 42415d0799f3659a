// Placeholder: implemented by its own change.
export const usage = 'writewatch probe';
export async function run(_args: string[]): Promise<number> {
  process.stderr.write('writewatch probe: not implemented yet\n');
  return 1;
}
