/** What the tests count in /proc/self/fd. */
import { readdirSync, readlinkSync } from 'node:fs';

/** The numbers of this process's open userfaultfds. */
export function uffdFds(): Set<number> {
  const fds = new Set<number>();
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === 'anon_inode:[userfaultfd]') fds.add(Number(name));
    } catch {
      /* the fd of the directory listing itself is gone by now */
    }
  }
  return fds;
}
