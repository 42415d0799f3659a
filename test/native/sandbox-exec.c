/*
 * sandbox-exec: run a command inside the kind of sandbox that container runtimes build, to test
 * what writewatch says there. Sets no_new_privs, installs a seccomp-BPF filter, optionally hides
 * /proc/self/pagemap in a private mount namespace, then execs the command (same pid, so the
 * masked /proc/<pid>/pagemap is the command's own).
 *
 *   sandbox-exec [--userfaultfd=ERRNO] [--uffd-dev=ERRNO] [--pagemap-scan=ERRNO]
 *                [--mask-pagemap] -- command args...
 *
 * --userfaultfd=ERRNO    the userfaultfd(2) syscall fails with ERRNO (EPERM, ENOSYS, ...)
 * --uffd-dev=ERRNO       ioctl(USERFAULTFD_IOC_NEW) on /dev/userfaultfd fails with ERRNO
 * --pagemap-scan=ERRNO   ioctl(PAGEMAP_SCAN) fails with ERRNO (ENOTTY: a kernel before 6.7)
 * --mask-pagemap         bind-mount /dev/null over /proc/<pid>/pagemap (as runtimes mask /proc files)
 * --no-proc              mount an empty tmpfs over /proc (no procfs at all)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "sandbox-exec knows x86_64 and aarch64 only"
#endif

#define USERFAULTFD_IOC_NEW 0xAA00u /* _IO(0xAA, 0x00) */
#define PAGEMAP_SCAN 0xC0606610u    /* _IOWR('f', 16, struct pm_scan_arg) */

static int errno_of(const char *name)
{
	static const struct { const char *name; int value; } names[] = {
		{ "EPERM", EPERM }, { "ENOSYS", ENOSYS }, { "EACCES", EACCES },
		{ "ENOTTY", ENOTTY }, { "EINVAL", EINVAL }, { "ENOENT", ENOENT },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i].name) == 0)
			return names[i].value;
	fprintf(stderr, "sandbox-exec: unknown errno %s\n", name);
	exit(2);
}

int main(int argc, char **argv)
{
	int uffd = 0, dev = 0, scan = 0, mask = 0, noproc = 0, i;
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strncmp(argv[i], "--userfaultfd=", 14) == 0)
			uffd = errno_of(argv[i] + 14);
		else if (strncmp(argv[i], "--uffd-dev=", 11) == 0)
			dev = errno_of(argv[i] + 11);
		else if (strncmp(argv[i], "--pagemap-scan=", 15) == 0)
			scan = errno_of(argv[i] + 15);
		else if (strcmp(argv[i], "--mask-pagemap") == 0)
			mask = 1;
		else if (strcmp(argv[i], "--no-proc") == 0)
			noproc = 1;
		else {
			fprintf(stderr, "sandbox-exec: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (i + 1 >= argc) {
		fprintf(stderr, "usage: sandbox-exec [options] -- command args...\n");
		return 2;
	}

	if (mask || noproc) {
		/* A private mount namespace; as non-root, inside a user namespace of our own. */
		if (unshare(CLONE_NEWNS) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
			perror("sandbox-exec: unshare");
			return 3;
		}
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
			perror("sandbox-exec: make / private");
			return 3;
		}
		if (noproc && mount("none", "/proc", "tmpfs", 0, "size=4k") != 0) {
			perror("sandbox-exec: mount tmpfs on /proc");
			return 3;
		}
		if (mask) {
			char path[64];
			snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)getpid());
			if (mount("/dev/null", path, NULL, MS_BIND, NULL) != 0) {
				perror("sandbox-exec: bind /dev/null over pagemap");
				return 3;
			}
		}
	}

	struct sock_filter filter[32];
	unsigned n = 0;
#define ADD(s) (filter[n++] = (struct sock_filter)s)
	ADD(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
	ADD(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0));
	ADD(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
	ADD(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
	if (uffd) {
		ADD(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_userfaultfd, 0, 1));
		ADD(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (uffd & SECCOMP_RET_DATA)));
	}
	if (dev || scan) {
		/* ioctl: compare the low 32 bits of the request (args[1]; both arches are little-endian). */
		ADD(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 5));
		ADD(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])));
		ADD(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, USERFAULTFD_IOC_NEW, 0, 1));
		ADD(BPF_STMT(BPF_RET | BPF_K, dev ? SECCOMP_RET_ERRNO | (dev & SECCOMP_RET_DATA) : SECCOMP_RET_ALLOW));
		ADD(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PAGEMAP_SCAN, 0, 1));
		ADD(BPF_STMT(BPF_RET | BPF_K, scan ? SECCOMP_RET_ERRNO | (scan & SECCOMP_RET_DATA) : SECCOMP_RET_ALLOW));
	}
	ADD(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
	struct sock_fprog prog = { .len = (unsigned short)n, .filter = filter };

	/* Without privileges a filter needs no_new_privs; with them, set it anyway, as runtimes do. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		perror("sandbox-exec: PR_SET_NO_NEW_PRIVS");
		return 3;
	}
	if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		perror("sandbox-exec: seccomp");
		return 3;
	}
	execvp(argv[i + 1], argv + i + 1);
	perror("sandbox-exec: exec");
	return 127;
}
