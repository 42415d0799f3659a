// The application: a SQLite database in the wasm heap, changed one transaction at a time, each
// transaction saved to the log before the next begins. It runs until it is killed (index.mjs
// kills it mid-run). On stdout, per save: "begin <seq> <imageBytes> <sha256/16> <rows> <total>"
// before the record is written, "durable <seq> <runs> <bytesWritten>" once it is on the disk.
//
//   node writer.mjs <log file>
import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import sqlite3InitModule from '@sqlite.org/sqlite-wasm';
import { WriteWatch } from 'writewatch';
import { append, record, rewrite } from './log.mjs';

const path = process.argv[2];
const sqlite3 = await sqlite3InitModule();
const { capi, wasm, oo1 } = sqlite3;

// memdb keeps the whole database file in one allocation in the wasm heap, which
// sqlite3_serialize(..., SQLITE_SERIALIZE_NOCOPY) points at. (A name starting with '/' would be a
// memdb shared between connections, for which NOCOPY gives no pointer; a plain ':memory:'
// database keeps its pages scattered in the page cache, and NOCOPY gives none either.)
const db = new oo1.DB('file:app.db?vfs=memdb', 'c');
// The whole heap is tracked, and whatever grows it. 1 GiB armed (2 MiB of page tables) rather than
// wasm32's 4 GiB: pages past it would read as written, overstating a save, never losing one.
const ww = WriteWatch.track(wasm.memory, { maxByteLength: 1 << 30, mechanism: 'auto' });

const pSize = wasm.alloc(8);
function image() {
  const p = capi.sqlite3_serialize(db.pointer, 'main', pSize, capi.SQLITE_SERIALIZE_NOCOPY);
  if (!p) throw new Error('sqlite3_serialize(NOCOPY) gave no pointer: the database is not a private memdb');
  return { p, n: Number(wasm.peek(pSize, 'i64')) };
}

// Deterministic pseudo-random numbers: every run writes the same transactions.
let seed = 0x2545f491;
const rand = (n) => {
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
  return (seed >>> 0) % n;
};
const note = () => 'n'.repeat(20 + rand(100)) + rand(1e9);

db.exec(`create table accounts(id integer primary key, owner text, balance integer, note text);
         create index accounts_owner on accounts(owner)`);
db.transaction(() => {
  for (let i = 0; i < 20000; i++) db.exec({ sql: 'insert into accounts(owner, balance, note) values (?, ?, ?)', bind: [`owner${rand(5000)}`, rand(1e6), note()] });
});

function transaction() {
  db.transaction(() => {
    for (let i = 0; i < 30; i++) db.exec({ sql: 'update accounts set balance = balance + ?, note = ? where id = ?', bind: [rand(1000) - 500, note(), 1 + rand(20000)] });
    for (let i = 0; i < 10; i++) db.exec({ sql: 'insert into accounts(owner, balance, note) values (?, ?, ?)', bind: [`owner${rand(5000)}`, rand(1e6), note()] });
    for (let i = 0; i < 3; i++) db.exec({ sql: 'delete from accounts where id = ?', bind: [1 + rand(20000)] });
  });
}

let fd = openSync(path, 'w');
let logBytes = 0;
let last = null;
for (let seq = 0; seq < 100_000; seq++) {
  if (seq > 0) transaction();
  const [rows, total] = db.selectArray('select count(*), total(balance) from accounts');
  const { p, n } = image();
  const bytes = new Uint8Array(wasm.memory.buffer, p, n);
  // get-and-reset over the image's pages in one call: what is written after it is in the next save.
  const written = ww.ranges({ offset: p, length: n, reset: true });
  const compact = logBytes > 4 * n; // the log is four images long: start it again from one
  let runs;
  if (last === null || p !== last.p || compact) {
    runs = [[0, n]]; // the first save, or the image moved (memdb reallocated it): all of it
  } else {
    runs = [];
    const kept = Math.min(n, last.n);
    for (const r of written) {
      const s = Math.max(r.offset, p) - p, e = Math.min(r.offset + r.length, p + kept) - p;
      if (e > s) runs.push([s, e - s]);
    }
    if (n > last.n) runs.push([last.n, n - last.n]); // the file grew: its new tail
  }
  const sha = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  console.log(`begin ${seq} ${n} ${sha} ${rows} ${total}`);
  const rec = record(seq, bytes, runs);
  if (compact) {
    closeSync(fd);
    rewrite(path, rec);
    fd = openSync(path, 'a');
    logBytes = rec.length;
  } else {
    append(fd, rec);
    logBytes += rec.length;
  }
  console.log(`durable ${seq} ${runs.length} ${rec.length}${compact ? ' compacted' : ''}`);
  last = { p, n };
}
