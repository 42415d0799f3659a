// A wasm database persisted incrementally, and reopened after a crash. writer.mjs keeps a SQLite
// database (@sqlite.org/sqlite-wasm, memdb) in the wasm heap and saves each transaction by
// appending to a log file only the pages of the database image written since the save before,
// found with WriteWatch.track on the wasm memory. This program runs the writer in a child
// process, kills it (SIGKILL) mid-run, then reopens the database from the log alone and checks it
// is byte-exact: the image of the last complete save, the same rows.
//
//   installed:  npm install @sqlite.org/sqlite-wasm@3.50.4-build1 && node node_modules/writewatch/examples/sqlite-snapshot/index.mjs [directory] [saves]
//   in a clone: npm run build && node examples/sqlite-snapshot/index.mjs [directory] [saves]
//
// The writer is killed once save <saves> (default 40) is durable; the kill lands wherever the
// writer is then, often in the middle of the next save. The log is <directory>/app.db.log.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import sqlite3InitModule from '@sqlite.org/sqlite-wasm';
import { replay } from './log.mjs';

const dir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'writewatch-sqlite-'));
const saves = Number(process.argv[3] ?? 40);
mkdirSync(dir, { recursive: true });
const path = join(dir, 'app.db.log');
rmSync(path, { force: true });
const MiB = (n) => (n / 1048576).toFixed(2) + ' MiB';

// --- run the writer, and kill it mid-run ------------------------------------------------------
const begun = new Map(); // seq -> { size, sha, rows, total }, from before its record was written
const durable = new Map(); // seq -> { runs, bytes, compacted }, once its record is on the disk
const writer = spawn(process.execPath, [fileURLToPath(new URL('writer.mjs', import.meta.url)), path], { stdio: ['ignore', 'pipe', 'inherit'] });
const exited = new Promise((resolve) => writer.on('exit', (code, signal) => resolve(signal ?? code)));
for await (const line of createInterface({ input: writer.stdout })) {
  const [what, seq, a, b, c, d] = line.split(' ');
  if (what === 'begin') begun.set(Number(seq), { size: Number(a), sha: b, rows: Number(c), total: Number(d) });
  if (what === 'durable') {
    durable.set(Number(seq), { runs: Number(a), bytes: Number(b), compacted: c === 'compacted' });
    if (Number(seq) === saves) writer.kill('SIGKILL');
  }
}
const how = await exited;
if (!durable.has(saves)) {
  // Not our kill: the writer ended on its own (a crash, or the OOM killer's SIGKILL) before save
  // <saves>. Say how, on stderr, rather than replay a log that may not exist.
  console.error(`the writer ended by ${how} after ${durable.size} durable saves, before save ${saves} (its errors, if any, are above)`);
  process.exit(1);
}
const lastDurable = Math.max(...durable.keys()), lastBegun = Math.max(...begun.keys());
for (const [seq, { runs, bytes, compacted }] of durable) {
  const { size, sha } = begun.get(seq);
  console.log(`save ${String(seq).padStart(3)}: ${String(runs).padStart(3)} runs, ${MiB(bytes).padStart(9)} written, image ${MiB(size)}, sha256 ${sha}${compacted ? ' (log compacted: a whole image)' : ''}`);
}
for (const [seq, { size, sha }] of begun) if (!durable.has(seq)) console.log(`save ${String(seq).padStart(3)}: begun, not durable when killed, image ${MiB(size)}, sha256 ${sha}`);
console.log(`writer ended by ${how}: save ${lastDurable} was durable, save ${lastBegun} had begun`);

// --- reopen from the log alone ----------------------------------------------------------------
const { image, seq } = replay(path);
const sha = createHash('sha256').update(image).digest('hex').slice(0, 16);
const want = begun.get(seq);
const exact = seq >= lastDurable && seq <= lastBegun && sha === want?.sha;
console.log(`log replayed up to save ${seq}: ${MiB(image.length)}, sha256 ${sha}: the writer's image at that save: ${exact ? 'yes' : 'NO'}`);

const { capi, wasm, oo1 } = await sqlite3InitModule();
const db = new oo1.DB('file:app.db?vfs=memdb', 'c');
const p = capi.sqlite3_malloc64(image.length);
wasm.heap8u().set(image, p);
// The database takes the allocation over (FREEONCLOSE) and may grow it (RESIZEABLE).
const rc = capi.sqlite3_deserialize(db.pointer, 'main', p, image.length, image.length, capi.SQLITE_DESERIALIZE_FREEONCLOSE | capi.SQLITE_DESERIALIZE_RESIZEABLE);
if (rc !== 0) throw new Error(`sqlite3_deserialize: ${capi.sqlite3_js_rc_str(rc)}`);
const check = db.selectValue('pragma integrity_check');
const [rows, total] = db.selectArray('select count(*), total(balance) from accounts');
const same = rows === want?.rows && total === want?.total;
console.log(`reopened: integrity_check ${check}; ${rows} rows, total balance ${total}: the writer's at save ${seq}: ${same ? 'yes' : 'NO'}`);
db.close();

// --- what incremental saves cost, against writing the whole image each time -------------------
let incremental = 0, full = 0;
for (const [k, { bytes }] of durable) if (k > 0) (incremental += bytes), (full += begun.get(k).size);
console.log(`saves 1..${lastDurable} wrote ${MiB(incremental)}; whole images would have been ${MiB(full)} (${((100 * incremental) / full).toFixed(1)}%)`);

const ok = exact && same && check === 'ok';
console.log(`reopened after the crash, byte-exact: ${ok ? 'yes' : 'NO'} (${dir})`);
if (process.argv[2] === undefined) rmSync(dir, { recursive: true });
process.exitCode = ok ? 0 : 1;
