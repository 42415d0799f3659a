// Guest side, on a kernel without the features: the probe must say so and why (exit 1), and every
// entry point must refuse with ERR_WRITEWATCH_UNSUPPORTED, never a crash or a half-working object.
import { readFileSync } from 'node:fs';
import { WriteWatch, probe } from 'writewatch';

const [file, probeExit] = process.argv.slice(2);
const fromCli = JSON.parse(readFileSync(file, 'utf8'));
const checks = [];
const check = (name, ok, detail) => checks.push({ name, ok: !!ok, detail });

check('probe --json says unsupported, exit 1', fromCli.supported === false && probeExit === '1', `supported=${fromCli.supported} exit=${probeExit}`);
check('probe gives reasons', Array.isArray(fromCli.reasons) && fromCli.reasons.length > 0, (fromCli.reasons ?? []).join('; '));
const p = probe();
check('probe() agrees with the command', p.supported === false && JSON.stringify(p.reasons) === JSON.stringify(fromCli.reasons), p.reasons?.join('; '));
function refuses(name, fn) {
  try {
    const r = fn();
    r?.close?.();
    check(`${name} throws ERR_WRITEWATCH_UNSUPPORTED`, false, 'returned normally');
  } catch (e) {
    check(`${name} throws ERR_WRITEWATCH_UNSUPPORTED`, e?.code === 'ERR_WRITEWATCH_UNSUPPORTED' && e instanceof Error, `${e?.constructor?.name} ${e?.code}: ${e?.message}`);
  }
}
refuses('WriteWatch.allocate(1 MiB)', () => WriteWatch.allocate(1 << 20));
refuses('WriteWatch.track(ArrayBuffer)', () => WriteWatch.track(new ArrayBuffer(1 << 20)));
for (const c of checks) console.log(`${c.ok ? 'ok  ' : 'BAD '} ${c.name}: ${c.detail}`);
const ok = checks.every((c) => c.ok);
console.log(`@@WW unsupported_path=${ok ? 'ok' : 'BAD'} checks=${checks.length} reasons=${JSON.stringify((fromCli.reasons ?? []).join('; ')).replace(/\s+/g, '_')}`);
process.exit(ok ? 0 : 1);
