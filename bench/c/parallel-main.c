/*
 * The parallel scan in C alone, outside Node (docs/performance.md, "Scans split across threads"):
 *   cc -O2 -o bench/build/parallel bench/c/parallel-main.c -lpthread
 *   bench/build/parallel MIB STRIDE RESET REPS [pop]
 * e.g. `bench/build/parallel 1024 100 1 15 pop`: 1 GiB populated, every 100th page written, with
 * reset, 15 repetitions; the single loop and the two-thread scan alternate, and the speed-up is the
 * median of same-repetition ratios (p25, p75).
 */
#include "scan.c"
#include <stdio.h>
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
  if (argc < 5) { fprintf(stderr, "usage: %s MIB STRIDE RESET REPS [pop]\n", argv[0]); return 2; }
  uint64_t len = (uint64_t)atoll(argv[1]) << 20; int stride = atoi(argv[2]); int reset = atoi(argv[3]); int reps = atoi(argv[4]);
  struct wwb *w = wwb_open(len); if (!w) { perror("open"); return 1; }
  long page = w->page; uint64_t pages = len / page;
  if (argc > 5) { for (uint64_t p = 0; p < pages; p++) w->base[p * page] = 1; int64_t n; wwb_time_scan(w, 0, len, 1, 1, &n); }
  struct par *p = wwb_par_open(w, 2);
  if (!p) { perror("pool"); return 1; }
  if (reps < 1 || reps > 1000) return 2;
  double r[1000], t1[1000], t2[1000]; int64_t n1, n2;
  for (uint64_t q = 0; q < pages; q += stride) w->base[q * page + 8]++;
  for (int i = 0; i < reps + 2; i++) {
    int first = i & 1;
    double a = 0, b = 0;
    for (int o = 0; o < 2; o++) {
      if (reset || i == 0) for (uint64_t q = 0; q < pages; q += stride) w->base[q * page + 8]++;
      if ((o ^ first) == 0) a = wwb_time_scan(w, 0, len, reset, 1, &n1); else b = wwb_par_scan(p, (uint64_t)w->base, len, reset, &n2);
    }
    if (i >= 2) { t1[i-2] = a; t2[i-2] = b; r[i-2] = a / b; }
  }
  qsort(r, reps, sizeof(double), cmp); qsort(t1, reps, sizeof(double), cmp); qsort(t2, reps, sizeof(double), cmp);
  printf("%lld MiB stride %d reset %d: 1 thread %.0f us, 2 threads %.0f us, speed-up %.2f (p25 %.2f p75 %.2f) pages %ld/%ld\n", (long long)(len >> 20), stride, reset, t1[reps/2]/1e3, t2[reps/2]/1e3, r[reps/2], r[reps/4], r[3*reps/4], (long)n1, (long)n2);
  wwb_par_close(p); wwb_close(w);
}
