/*
 * The C reference for `npm run bench`: the same userfaultfd WP_ASYNC + PAGEMAP_SCAN loop as
 * src/sys/pagemap/written.ts and WriteWatch.allocate, with no FFI in between. Built by bench/run.mjs
 * as a shared object and called through koffi, so that the C loop and the JS loop run in the same
 * process on the same dirtying pattern, in alternation; every timing is taken inside C
 * (CLOCK_MONOTONIC), so koffi's call cost is not charged to C.
 *
 * The kernel ABI is spelled out here: Debian's headers predate PAGEMAP_SCAN and WP_ASYNC.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef __NR_userfaultfd
#if defined(__x86_64__)
#define __NR_userfaultfd 323
#elif defined(__aarch64__)
#define __NR_userfaultfd 282
#endif
#endif

/* include/uapi/linux/userfaultfd.h */
#define UFFD_API 0xAAULL
#define UFFD_USER_MODE_ONLY 1
#define UFFD_FEATURE_WP_UNPOPULATED (1ULL << 13)
#define UFFD_FEATURE_WP_ASYNC (1ULL << 15)
struct uffdio_api { uint64_t api, features, ioctls; };
struct uffdio_range { uint64_t start, len; };
struct uffdio_register { struct uffdio_range range; uint64_t mode, ioctls; };
struct uffdio_writeprotect { struct uffdio_range range; uint64_t mode; };
#define UFFDIO_REGISTER_MODE_WP (1ULL << 1)
#define UFFDIO_WRITEPROTECT_MODE_WP (1ULL << 0)
#define UFFDIO_API _IOWR(0xAA, 0x3F, struct uffdio_api)
#define UFFDIO_REGISTER _IOWR(0xAA, 0x00, struct uffdio_register)
#define UFFDIO_WRITEPROTECT _IOWR(0xAA, 0x06, struct uffdio_writeprotect)

/* include/uapi/linux/fs.h (6.7+) */
struct page_region { uint64_t start, end, categories; };
struct pm_scan_arg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1ULL << 0)
#define PM_SCAN_CHECK_WPASYNC (1ULL << 1)
#define PAGE_IS_WRITTEN (1ULL << 1)

#ifndef MADV_NOHUGEPAGE
#define MADV_NOHUGEPAGE 15
#endif

/* One bounce buffer's worth (PMD_SIZE / PAGE_SIZE): more can leave walk_end stale on 6.18. */
#define VEC_MAX 512

struct wwb {
  uint8_t *base;
  uint64_t len;
  long page;
  int uffd;
  int pagemap;
  struct page_region vec[VEC_MAX];
  uint64_t *out; /* page offsets, as get() returns them */
  uint64_t out_cap;
};

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

void wwb_close(struct wwb *w) {
  if (!w) return;
  if (w->uffd >= 0) close(w->uffd);
  if (w->pagemap >= 0) close(w->pagemap);
  if (w->base && w->base != MAP_FAILED) munmap(w->base, w->len);
  if (w->out && w->out != MAP_FAILED) munmap(w->out, w->out_cap * sizeof(uint64_t));
  free(w);
}

/* WriteWatch.allocate: map, no THP, userfaultfd(WP_ASYNC|WP_UNPOPULATED), register WP, arm. NULL + errno on failure. */
struct wwb *wwb_open(uint64_t len) {
  struct wwb *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->uffd = w->pagemap = -1;
  w->page = sysconf(_SC_PAGESIZE);
  w->len = len;
  w->base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  /* The offset array is reserved for every page but only touched as far as it is filled. */
  w->out_cap = len / w->page;
  w->out = mmap(NULL, w->out_cap * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (w->base == MAP_FAILED || w->out == MAP_FAILED) goto fail;
  if (madvise(w->base, len, MADV_NOHUGEPAGE)) goto fail;
  w->uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
  if (w->uffd < 0) goto fail;
  struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
  if (ioctl(w->uffd, UFFDIO_API, &api)) goto fail;
  struct uffdio_register reg = { .range = { (uint64_t)w->base, len }, .mode = UFFDIO_REGISTER_MODE_WP };
  if (ioctl(w->uffd, UFFDIO_REGISTER, &reg)) goto fail;
  struct uffdio_writeprotect wp = { .range = { (uint64_t)w->base, len }, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
  if (ioctl(w->uffd, UFFDIO_WRITEPROTECT, &wp)) goto fail;
  w->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (w->pagemap < 0) goto fail;
  return w;
fail: {
  int e = errno;
  wwb_close(w);
  errno = e;
  return NULL;
}
}

uint64_t wwb_address(struct wwb *w) { return (uint64_t)w->base; }

/*
 * The library's loop (WrittenScanner.scan + the getInto sink): PAGE_IS_WRITTEN on the kernel's
 * fast path, vec_len sized to the range as the library does, resume at walk_end but never before
 * the end of the last region (stale walk_end), expand every region into page offsets.
 * Returns the page count, or -1 with errno.
 */
static int64_t scan_loop(struct wwb *w, uint64_t start, uint64_t end, int reset) {
  const uint64_t page = (uint64_t)w->page, base = (uint64_t)w->base;
  uint64_t vec_len = ((end - start) / page + 1) / 2;
  if (vec_len > VEC_MAX) vec_len = VEC_MAX;
  if (vec_len == 0) vec_len = 1;
  struct pm_scan_arg arg = {
    .size = sizeof arg,
    .flags = PM_SCAN_CHECK_WPASYNC | (reset ? PM_SCAN_WP_MATCHING : 0),
    .end = end,
    .vec = (uint64_t)w->vec,
    .vec_len = vec_len,
    .category_mask = PAGE_IS_WRITTEN,
    .return_mask = PAGE_IS_WRITTEN,
  };
  uint64_t cur = start, last_end = start, k = 0;
  while (cur < end) {
    arg.start = cur;
    int n = ioctl(w->pagemap, PAGEMAP_SCAN, &arg);
    if (n < 0) return -1;
    for (int i = 0; i < n; i++) {
      uint64_t s = w->vec[i].start, e = w->vec[i].end;
      if (e <= last_end) continue;
      if (s < last_end) s = last_end;
      for (uint64_t a = s - base; a < e - base; a += page) w->out[k++] = a;
      last_end = e;
    }
    uint64_t next = arg.walk_end > last_end ? arg.walk_end : last_end;
    if (next <= cur && n == 0) {
      errno = EAGAIN;
      return -1;
    }
    cur = next;
  }
  return (int64_t)k;
}

/* Runs the loop `iters` times over [offset, offset + length) of the region; returns the ns taken, pages in *pages. */
double wwb_time_scan(struct wwb *w, uint64_t offset, uint64_t length, int reset, int iters, int64_t *pages) {
  uint64_t start = (uint64_t)w->base + offset;
  double t0 = now_ns();
  int64_t n = 0;
  for (int i = 0; i < iters; i++) {
    n = scan_loop(w, start, start + length, reset);
    if (n < 0) return -1;
  }
  double t1 = now_ns();
  *pages = n;
  return t1 - t0;
}

/*
 * The same, preceded by the checks the library makes before every call so that a lost registration
 * throws instead of reading as clean (src/mechanisms/write-protect/lost.ts): msync(addr, len, 0) fails on any
 * hole, and, before a reset, a PAGEMAP_SCAN that walks no page (category_mask = category_inverted
 * = PAGE_IS_WPALLOWED) fails with EPERM on an unregistered mapping. The difference from
 * wwb_time_scan is what safety costs; the difference from JS is what the FFI and JS cost.
 */
#define PAGE_IS_WPALLOWED (1ULL << 0)
double wwb_time_scan_checked(struct wwb *w, uint64_t offset, uint64_t length, int reset, int iters, int64_t *pages) {
  uint64_t start = (uint64_t)w->base + offset;
  struct pm_scan_arg check = {
    .size = sizeof check,
    .flags = PM_SCAN_CHECK_WPASYNC,
    .start = start,
    .end = start + length,
    .category_inverted = PAGE_IS_WPALLOWED,
    .category_mask = PAGE_IS_WPALLOWED,
  };
  double t0 = now_ns();
  int64_t n = 0;
  for (int i = 0; i < iters; i++) {
    if (msync((void *)start, length, 0)) return -1;
    if (reset && ioctl(w->pagemap, PAGEMAP_SCAN, &check) < 0) return -1;
    n = scan_loop(w, start, start + length, reset);
    if (n < 0) return -1;
  }
  double t1 = now_ns();
  *pages = n;
  return t1 - t0;
}

/*
 * The loop over any range of this process (e.g. a WriteWatch's own memory, so that C and JS scan
 * the very same page tables): offsets are relative to `addr`.
 */
double wwb_time_scan_at(struct wwb *w, uint64_t addr, uint64_t length, int reset, int iters, int64_t *pages) {
  if (length / (uint64_t)w->page > w->out_cap) { /* the offset array holds one region's worth */
    errno = EINVAL;
    return -1;
  }
  uint8_t *own = w->base;
  w->base = (uint8_t *)addr;
  double t0 = now_ns();
  int64_t n = 0;
  for (int i = 0; i < iters && n >= 0; i++) n = scan_loop(w, addr, addr + length, reset);
  double t1 = now_ns();
  w->base = own;
  *pages = n;
  return n < 0 ? -1 : t1 - t0;
}

/* Page offset `i` of the last scan (tests that C found the pages JS wrote). */
uint64_t wwb_result(struct wwb *w, uint64_t i) { return w->out[i]; }

/*
 * ResetWriteWatch, three ways, timed: 0 = UFFDIO_WRITEPROTECT over the range (what
 * WriteWatch.reset does), 1 = PAGEMAP_SCAN WP_MATCHING|CHECK_WPASYNC with vec_len 0 (the kernel's
 * exclusive-WP fast path), 2 = the same scan with a vector (get+reset, results dropped).
 */
double wwb_time_reset(struct wwb *w, int method) {
  uint64_t start = (uint64_t)w->base, end = start + w->len;
  double t0 = now_ns();
  if (method == 0) {
    struct uffdio_writeprotect wp = { .range = { start, w->len }, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
    if (ioctl(w->uffd, UFFDIO_WRITEPROTECT, &wp)) return -1;
  } else if (method == 1) {
    struct pm_scan_arg arg = {
      .size = sizeof arg,
      .flags = PM_SCAN_CHECK_WPASYNC | PM_SCAN_WP_MATCHING,
      .start = start,
      .end = end,
      .category_mask = PAGE_IS_WRITTEN,
      .return_mask = PAGE_IS_WRITTEN,
    };
    if (ioctl(w->pagemap, PAGEMAP_SCAN, &arg) < 0) return -1;
  } else {
    struct pm_scan_arg arg = {
      .size = sizeof arg,
      .flags = PM_SCAN_CHECK_WPASYNC | PM_SCAN_WP_MATCHING,
      .end = end,
      .vec = (uint64_t)w->vec,
      .vec_len = VEC_MAX,
      .category_mask = PAGE_IS_WRITTEN,
      .return_mask = PAGE_IS_WRITTEN,
    };
    uint64_t cur = start, last_end = start;
    while (cur < end) {
      arg.start = cur;
      int n = ioctl(w->pagemap, PAGEMAP_SCAN, &arg);
      if (n < 0) return -1;
      if (n > 0 && w->vec[n - 1].end > last_end) last_end = w->vec[n - 1].end;
      uint64_t next = arg.walk_end > last_end ? arg.walk_end : last_end;
      if (next <= cur && n == 0) return -1;
      cur = next;
    }
  }
  return now_ns() - t0;
}

/*
 * The writer's side: one 32-bit store into each listed page (byte offset `pages[i] * page + word * 4`),
 * timed. `value` changes per round so that a shadow copy sees the page as changed.
 */
double wwb_time_touch(uint64_t base, const uint32_t *pages, uint32_t n, uint32_t value) {
  volatile uint32_t *p = (volatile uint32_t *)base;
  const long page = sysconf(_SC_PAGESIZE) / 4;
  double t0 = now_ns();
  for (uint32_t i = 0; i < n; i++) p[(uint64_t)pages[i] * page + ((pages[i] * 2654435761u) >> 22) % page] = value;
  return now_ns() - t0;
}

/*
 * A scan split across threads: [addr, addr + length) cut at 2 MiB boundaries into `threads`
 * slices, one per thread (the caller's thread takes the first), each with its own pm_scan_arg and
 * vector, writing its pages into its own part of the offset array; the parts are then moved
 * together (memmove), so the answer is the same array the single loop makes. The helper threads
 * are made once and wait on a futex between calls, as a pool would. PAGEMAP_SCAN holds mmap_lock
 * for reading and takes the page-table lock per PMD, so disjoint slices can walk at once; a
 * write-protecting walk flushes the TLB of every CPU running this mm, the other scanner included.
 */
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>

#define PAR_MAX 8

struct slice {
  struct wwb *w;
  uint64_t start, end, base;
  uint64_t *out;
  int reset;
  int64_t n;
  struct page_region vec[VEC_MAX];
};

struct par;
struct worker_arg { struct par *p; int i; };

struct par {
  struct wwb *w;
  struct worker_arg args[PAR_MAX];
  int threads;
  pthread_t tid[PAR_MAX];
  _Atomic uint32_t go, done, quit;
  struct slice s[PAR_MAX];
};

static void futex_wait(_Atomic uint32_t *p, uint32_t v) { syscall(SYS_futex, p, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0); }
static void futex_wake(_Atomic uint32_t *p) { syscall(SYS_futex, p, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }

/* scan_loop() over one slice, with the slice's own vector. */
static int64_t slice_scan(struct slice *s) {
  const uint64_t page = (uint64_t)s->w->page, base = s->base;
  uint64_t vec_len = ((s->end - s->start) / page + 1) / 2;
  if (vec_len > VEC_MAX) vec_len = VEC_MAX;
  if (vec_len == 0) vec_len = 1;
  struct pm_scan_arg arg = {
    .size = sizeof arg,
    .flags = PM_SCAN_CHECK_WPASYNC | (s->reset ? PM_SCAN_WP_MATCHING : 0),
    .end = s->end,
    .vec = (uint64_t)s->vec,
    .vec_len = vec_len,
    .category_mask = PAGE_IS_WRITTEN,
    .return_mask = PAGE_IS_WRITTEN,
  };
  uint64_t cur = s->start, last_end = s->start, k = 0;
  while (cur < s->end) {
    arg.start = cur;
    int n = ioctl(s->w->pagemap, PAGEMAP_SCAN, &arg);
    if (n < 0) return -1;
    for (int i = 0; i < n; i++) {
      uint64_t a = s->vec[i].start, e = s->vec[i].end;
      if (e <= last_end) continue;
      if (a < last_end) a = last_end;
      for (a -= base; a < e - base; a += page) s->out[k++] = a;
      last_end = e;
    }
    uint64_t next = arg.walk_end > last_end ? arg.walk_end : last_end;
    if (next <= cur && n == 0) {
      errno = EAGAIN;
      return -1;
    }
    cur = next;
  }
  return (int64_t)k;
}


static void *par_thread(void *a_) {
  struct worker_arg *a = a_;
  struct par *p = a->p;
  uint32_t seen = 0;
  for (;;) {
    uint32_t g;
    int spins = 0;
    while ((g = atomic_load(&p->go)) == seen) {
      if (atomic_load(&p->quit)) return NULL;
      if (++spins > 2000) futex_wait(&p->go, seen);
    }
    seen = g;
    if (atomic_load(&p->quit)) return NULL;
    p->s[a->i].n = slice_scan(&p->s[a->i]);
    atomic_fetch_add(&p->done, 1);
    futex_wake(&p->done);
  }
}

/* A pool of `threads` - 1 helper threads for scans of `w`'s offset array. NULL + errno on failure. */
struct par *wwb_par_open(struct wwb *w, int threads) {
  if (threads < 1 || threads > PAR_MAX) {
    errno = EINVAL;
    return NULL;
  }
  struct par *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->w = w;
  p->threads = threads;
  for (int i = 1; i < threads; i++) {
    p->args[i] = (struct worker_arg){ p, i };
    if (pthread_create(&p->tid[i], NULL, par_thread, &p->args[i])) {
      atomic_store(&p->quit, 1);
      atomic_fetch_add(&p->go, 1);
      futex_wake(&p->go);
      for (int j = 1; j < i; j++) pthread_join(p->tid[j], NULL);
      free(p);
      errno = EAGAIN;
      return NULL;
    }
  }
  return p;
}

void wwb_par_close(struct par *p) {
  if (!p) return;
  atomic_store(&p->quit, 1);
  atomic_fetch_add(&p->go, 1);
  syscall(SYS_futex, &p->go, FUTEX_WAKE_PRIVATE, PAR_MAX, NULL, NULL, 0);
  for (int i = 1; i < p->threads; i++) pthread_join(p->tid[i], NULL);
  free(p);
}

/*
 * One scan of [addr, addr + length) split across the pool's threads; ns taken, pages in *pages
 * (offsets relative to addr, contiguous in the offset array, as the single loop leaves them).
 */
double wwb_par_scan(struct par *p, uint64_t addr, uint64_t length, int reset, int64_t *pages) {
  struct wwb *w = p->w;
  const uint64_t page = (uint64_t)w->page, pmd = page * (page / 8);
  if (length / page > w->out_cap) {
    errno = EINVAL;
    return -1;
  }
  double t0 = now_ns();
  uint64_t cut = addr;
  for (int i = 0; i < p->threads; i++) {
    struct slice *s = &p->s[i];
    uint64_t end = i == p->threads - 1 ? addr + length : ((addr + length / p->threads * (i + 1)) + pmd - 1) / pmd * pmd;
    if (end > addr + length) end = addr + length;
    s->w = w;
    s->start = cut;
    s->end = end;
    s->base = addr;
    s->reset = reset;
    s->out = w->out + (cut - addr) / page;
    cut = end;
  }
  atomic_store(&p->done, 0);
  atomic_fetch_add(&p->go, 1);
  syscall(SYS_futex, &p->go, FUTEX_WAKE_PRIVATE, PAR_MAX, NULL, NULL, 0);
  p->s[0].n = p->s[0].start < p->s[0].end ? slice_scan(&p->s[0]) : 0;
  uint32_t d;
  while ((d = atomic_load(&p->done)) < (uint32_t)(p->threads - 1)) futex_wait(&p->done, d);
  int64_t k = 0;
  for (int i = 0; i < p->threads; i++) {
    if (p->s[i].n < 0) return -1;
    if (p->s[i].out != w->out + k) memmove(w->out + k, p->s[i].out, (size_t)p->s[i].n * sizeof(uint64_t));
    k += p->s[i].n;
  }
  double t1 = now_ns();
  *pages = k;
  return t1 - t0;
}
