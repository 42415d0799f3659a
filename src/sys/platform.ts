/**
 * The two facts every layer needs whatever the platform: the page size (GetWriteWatch's
 * granularity) and where a buffer's bytes are. The one place the system bindings branch on the
 * platform: sysconf through libc on Linux, GetSystemInfo through kernel32 on Windows; elsewhere
 * (macOS, FreeBSD) no binding is loaded and the page size is the common 4096 until a mechanism
 * that runs there needs better.
 */
import { types } from 'node:util';
import koffi from 'koffi';
import { systemInfo } from './kernel32/system.js';
import { libc } from './libc/libc.js';

let pageSize: number | undefined;

/** The host page size (GetWriteWatch's granularity). */
export function getPageSize(): number {
  if (pageSize !== undefined) return pageSize;
  if (process.platform === 'win32') return (pageSize = systemInfo().pageSize);
  if (process.platform === 'linux') return (pageSize = libc().sysconf(30 /* _SC_PAGESIZE */));
  return (pageSize = 4096);
}

/** The address of a buffer's first byte (a SharedArrayBuffer through a view: koffi refuses it bare). */
export function addressOf(buf: ArrayBuffer | SharedArrayBuffer | ArrayBufferView): bigint {
  return koffi.address(types.isSharedArrayBuffer(buf) ? new Uint8Array(buf) : buf);
}
