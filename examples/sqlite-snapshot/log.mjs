// The save log: a file of records, each the runs of the database image that changed since the
// record before (the first record, and the first after a compaction, hold the whole image).
// Appending is the only write, so a crash can only tear the last record, which replay drops:
// the database comes back as of the last complete save.
//
// Record: "WWSQLREC", u32 seq, u32 imageSize, u32 runs, u32 bodyBytes, 8 bytes of
// sha256(the first 24 bytes + body); body: per run u32 offset, u32 length, then the runs' bytes.
import { createHash } from 'node:crypto';
import { closeSync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const MAGIC = 'WWSQLREC';
const HEADER = 32;

function digest(header, body) {
  return createHash('sha256').update(header.subarray(0, 24)).update(body).digest().subarray(0, 8);
}

/** One record for `runs` ([offset, length] pairs of the image) of `image` (a Uint8Array). */
export function record(seq, image, runs) {
  const table = Buffer.alloc(runs.length * 8);
  runs.forEach(([offset, length], i) => {
    table.writeUInt32LE(offset, i * 8);
    table.writeUInt32LE(length, i * 8 + 4);
  });
  const body = Buffer.concat([table, ...runs.map(([offset, length]) => image.subarray(offset, offset + length))]);
  const header = Buffer.alloc(HEADER);
  header.write(MAGIC, 0, 'latin1');
  header.writeUInt32LE(seq, 8);
  header.writeUInt32LE(image.length, 12);
  header.writeUInt32LE(runs.length, 16);
  header.writeUInt32LE(body.length, 20);
  digest(header, body).copy(header, 24);
  return Buffer.concat([header, body]);
}

/** Appends a record and waits until it is on the disk: the save is durable when this returns. */
export function append(fd, bytes) {
  writeSync(fd, bytes);
  fdatasyncSync(fd);
}

/** Replaces the log with one record, atomically (write a new file, then rename it over the old). */
export function rewrite(path, bytes) {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    append(fd, bytes);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir); // the rename itself is durable
  } finally {
    closeSync(dir);
  }
}

/** Replays the log: the image as of the last complete record, and that record's seq (-1: none). */
export function replay(path) {
  const file = readFileSync(path);
  let image = new Uint8Array(0);
  let seq = -1;
  for (let at = 0; at + HEADER <= file.length; ) {
    const header = file.subarray(at, at + HEADER);
    const size = header.readUInt32LE(12), runs = header.readUInt32LE(16), bodyBytes = header.readUInt32LE(20);
    const body = file.subarray(at + HEADER, at + HEADER + bodyBytes);
    // A torn or garbled record ends the log: everything after it was never acknowledged.
    if (header.toString('latin1', 0, 8) !== MAGIC || body.length !== bodyBytes || !digest(header, body).equals(header.subarray(24, 32))) break;
    if (size !== image.length) {
      const resized = new Uint8Array(size);
      resized.set(image.subarray(0, Math.min(size, image.length)));
      image = resized;
    }
    let data = runs * 8;
    for (let i = 0; i < runs; i++) {
      const offset = body.readUInt32LE(i * 8), length = body.readUInt32LE(i * 8 + 4);
      image.set(body.subarray(data, data + length), offset);
      data += length;
    }
    seq = header.readUInt32LE(8);
    at += HEADER + bodyBytes;
  }
  return { image, seq };
}
