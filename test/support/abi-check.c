/*
 * Independent source for test/00.abi.test.ts: numbers as the C compiler sees them through the
 * system's kernel headers (Debian's are 6.1: no WP_ASYNC/WP_UNPOPULATED, no PAGEMAP_SCAN), and
 * the 6.7 uapi structs copied verbatim from include/uapi/linux/fs.h, encoded with the system's
 * own _IOWR. Prints one `name value` pair per line.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* include/uapi/linux/fs.h (Linux 6.7+), copied. */
struct page_region { __u64 start; __u64 end; __u64 categories; };
struct pm_scan_arg {
  __u64 size; __u64 flags; __u64 start; __u64 end; __u64 walk_end; __u64 vec; __u64 vec_len;
  __u64 max_pages; __u64 category_inverted; __u64 category_mask; __u64 category_anyof_mask;
  __u64 return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)

#define P(name, v) printf("%s %llu\n", name, (unsigned long long)(v))
#define N(x) P(#x, x)
#define OFF(s, f) P(#s "." #f, offsetof(struct s, f))

int main(void) {
  N(UFFD_API); N(UFFDIO); N(UFFD_USER_MODE_ONLY);
  N(UFFDIO_API); N(UFFDIO_REGISTER); N(UFFDIO_UNREGISTER); N(UFFDIO_WAKE); N(UFFDIO_WRITEPROTECT);
  N(USERFAULTFD_IOC_NEW);
  N(_UFFDIO_REGISTER); N(_UFFDIO_UNREGISTER); N(_UFFDIO_WAKE); N(_UFFDIO_COPY); N(_UFFDIO_ZEROPAGE);
  N(_UFFDIO_WRITEPROTECT); N(_UFFDIO_CONTINUE); N(_UFFDIO_API);
  N(UFFDIO_REGISTER_MODE_MISSING); N(UFFDIO_REGISTER_MODE_WP); N(UFFDIO_REGISTER_MODE_MINOR);
  N(UFFDIO_WRITEPROTECT_MODE_WP); N(UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
  N(UFFD_FEATURE_PAGEFAULT_FLAG_WP); N(UFFD_FEATURE_EVENT_FORK); N(UFFD_FEATURE_EVENT_REMAP);
  N(UFFD_FEATURE_EVENT_REMOVE); N(UFFD_FEATURE_MISSING_HUGETLBFS); N(UFFD_FEATURE_MISSING_SHMEM);
  N(UFFD_FEATURE_EVENT_UNMAP); N(UFFD_FEATURE_SIGBUS); N(UFFD_FEATURE_THREAD_ID);
  N(UFFD_FEATURE_MINOR_HUGETLBFS); N(UFFD_FEATURE_MINOR_SHMEM); N(UFFD_FEATURE_EXACT_ADDRESS);
  N(UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
  P("sizeof.uffdio_api", sizeof(struct uffdio_api)); OFF(uffdio_api, api); OFF(uffdio_api, features); OFF(uffdio_api, ioctls);
  P("sizeof.uffdio_range", sizeof(struct uffdio_range)); OFF(uffdio_range, start); OFF(uffdio_range, len);
  P("sizeof.uffdio_register", sizeof(struct uffdio_register)); OFF(uffdio_register, range); OFF(uffdio_register, mode); OFF(uffdio_register, ioctls);
  P("sizeof.uffdio_writeprotect", sizeof(struct uffdio_writeprotect)); OFF(uffdio_writeprotect, range); OFF(uffdio_writeprotect, mode);
  N(PAGEMAP_SCAN);
  P("sizeof.pm_scan_arg", sizeof(struct pm_scan_arg));
  OFF(pm_scan_arg, size); OFF(pm_scan_arg, flags); OFF(pm_scan_arg, start); OFF(pm_scan_arg, end);
  OFF(pm_scan_arg, walk_end); OFF(pm_scan_arg, vec); OFF(pm_scan_arg, vec_len); OFF(pm_scan_arg, max_pages);
  OFF(pm_scan_arg, category_inverted); OFF(pm_scan_arg, category_mask); OFF(pm_scan_arg, category_anyof_mask);
  OFF(pm_scan_arg, return_mask);
  P("sizeof.page_region", sizeof(struct page_region)); OFF(page_region, start); OFF(page_region, end); OFF(page_region, categories);
  N(O_RDONLY); N(O_RDWR); N(O_NONBLOCK); N(O_CLOEXEC);
  N(PROT_NONE); N(PROT_READ); N(PROT_WRITE); N(PROT_EXEC);
  N(MAP_SHARED); N(MAP_PRIVATE); N(MAP_FIXED); N(MAP_ANONYMOUS); N(MAP_NORESERVE); N(MAP_FIXED_NOREPLACE); N(MREMAP_MAYMOVE);
  P("MAP_FAILED", (unsigned long long)(unsigned long)MAP_FAILED);
  N(MADV_NORMAL); N(MADV_DONTNEED); N(MADV_HUGEPAGE); N(MADV_NOHUGEPAGE);
  N(_SC_PAGESIZE);
  P("SYS_userfaultfd", SYS_userfaultfd); P("SYS_getpid", SYS_getpid);
  return 0;
}
