/*
 * fork() from inside the Node process, as native code (or libuv spawning a child) does. The child
 * writes one byte at `addr` -- into its own copy-on-write page -- and leaves with _exit without
 * ever returning to the caller: a fork()ed Node child cannot run JS (V8's heap is VM_DONTCOPY).
 * Returns the child's wait status, or -1 with errno set.
 */
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int fork_write_exit(volatile unsigned char *addr)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (addr)
			*addr = 1;
		_exit(0);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return status;
}
